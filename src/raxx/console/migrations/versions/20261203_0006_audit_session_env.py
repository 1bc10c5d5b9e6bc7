"""Audit events carry the session's environment and the page the action came from.

* ``session_env``: the environment the session had selected (``console_session.current_env``)
  when the event was recorded; null for the JSON API (no session), the CLI and background work.
* ``origin``: the console page (path) the request came from, null when unknown.
* ``body_version``: which canonical body the row's hash covers (``canonical.BODY_VERSION``):
  1 for rows written before this revision (their body has neither field), 2 from now on.
  A verifier builds each row's body by its version, so old and new rows both verify, and
  changing the version of a row changes its body (``v``) and breaks its hash.

``audit_append`` is replaced to store the three; the chain, the lock and the hash are as
before. Adding columns with constant defaults rewrites nothing and fires no trigger.
"""

import sqlalchemy as sa
from alembic import op

revision = "c20261203_0006_audit_session_env"
down_revision = "c20261126_0005_merge"

#: pg_advisory_xact_lock key of the append lock: crc32("raxx.audit.append") (as in c20261126_0003).
APPEND_LOCK_KEY = 3_122_375_045


APPEND_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_append(p_body text)
RETURNS TABLE (seq bigint, hash text, recorded_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $fn$
DECLARE
    j jsonb := p_body::jsonb;
    head_seq bigint;
    head_hash text;
    head_at timestamptz;
    new_seq bigint;
    new_hash text;
    now_ts timestamptz;
    now_text text;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'audit_append needs READ COMMITTED, not %', current_setting('transaction_isolation')
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    PERFORM set_config('lock_timeout', '10s', true);
    PERFORM pg_advisory_xact_lock(APPEND_LOCK_KEY);
    SELECT e.seq, e.hash, e.recorded_at INTO head_seq, head_hash, head_at
        FROM audit_event e ORDER BY e.seq DESC LIMIT 1;
    IF head_seq IS NULL THEN
        head_seq := 0;
        head_hash := repeat('0', 64);
    END IF;
    new_seq := head_seq + 1;
    now_ts := greatest(clock_timestamp(), head_at);
    now_text := to_char(now_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    new_hash := encode(sha256(convert_to(
        'raxx.audit.v1' || E'\n' || head_hash || E'\n' || new_seq::text || E'\n' || now_text || E'\n' || p_body,
        'UTF8')), 'hex');
    INSERT INTO audit_event (
        seq, event_id, occurred_at, recorded_at, actor_id, actor_name, session_hash, environment,
        action, target, params, phase, outcome, attempt_id, http_status, error, request_id,
        client_ip, user_agent, prev_hash, hash EXTRA_COLUMNS)
    VALUES (
        new_seq, (j->>'event_id')::uuid, (j->>'occurred_at')::timestamptz, now_ts,
        (j->>'actor_id')::uuid, j->>'actor_name', j->>'session_hash', j->>'environment',
        j->>'action', j->>'target', j->'params', j->>'phase', j->>'outcome', (j->>'attempt_id')::uuid,
        (j->>'http_status')::int, j->>'error', j->>'request_id', j->>'client_ip', j->>'user_agent',
        head_hash, new_hash EXTRA_VALUES);
    RETURN QUERY SELECT new_seq, new_hash, now_ts;
END
$fn$;
"""


def _append_function(*, version_2: bool) -> str:
    """``audit_append`` storing the version-2 fields, or as c20261126_0003 wrote it (downgrade)."""
    columns = ", body_version, session_env, origin" if version_2 else ""
    values = ", coalesce((j->>'v')::smallint, 1), j->>'session_env', j->>'origin'" if version_2 else ""
    return (
        APPEND_FUNCTION.replace("APPEND_LOCK_KEY", str(APPEND_LOCK_KEY))
        .replace(" EXTRA_COLUMNS", columns)
        .replace(" EXTRA_VALUES", values)
    )


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("body_version", sa.SmallInteger(), server_default="1", nullable=False))
    op.add_column("audit_event", sa.Column("session_env", sa.Text(), nullable=True))
    op.add_column("audit_event", sa.Column("origin", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_audit_event_body_version_known"), "audit_event", "body_version IN (1, 2)")
    op.execute(_append_function(version_2=True))


def downgrade() -> None:
    op.execute(_append_function(version_2=False))
    op.drop_constraint(op.f("ck_audit_event_body_version_known"), "audit_event", type_="check")
    op.drop_column("audit_event", "origin")
    op.drop_column("audit_event", "session_env")
    op.drop_column("audit_event", "body_version")
