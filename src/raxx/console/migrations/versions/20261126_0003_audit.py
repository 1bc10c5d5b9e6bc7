"""Audit trail: append-only, hash-chained events and signed checkpoints.

* ``audit_append(body)`` (and ``audit_append_many(bodies)``, the same in a loop) is the
  only way rows are written: it takes a transaction-level
  advisory lock, reads the head *after* the lock (a fresh snapshot, so two console
  processes never read the same head), assigns ``seq`` = head + 1 and ``recorded_at``
  from the database clock, and computes the hash exactly as
  ``raxx.console.audit.canonical.chain_hash`` does.
* Triggers reject UPDATE, DELETE and TRUNCATE on both tables, for every role.
* The runtime role gets exactly INSERT and SELECT on them (default privileges had
  given it UPDATE and DELETE too) and EXECUTE on ``audit_append``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from raxx.common.migration_ops import for_runtime_role

revision = "c20261126_0003_audit"
down_revision = "c20261126_0001"

#: pg_advisory_xact_lock key of the append lock: crc32("raxx.audit.append").
APPEND_LOCK_KEY = 3_122_375_045

APPEND_FUNCTION = r"""
CREATE FUNCTION audit_append(p_body text)
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
    -- Under REPEATABLE READ the head read below would use a snapshot older than the
    -- lock and fork the chain; refuse rather than append unserialized.
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
    -- Never earlier than the previous event, even if the clock steps back: recorded_at then
    -- grows with seq, so a time range is a seq range (the audit page relies on it).
    now_ts := greatest(clock_timestamp(), head_at);
    now_text := to_char(now_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    new_hash := encode(sha256(convert_to(
        'raxx.audit.v1' || E'\n' || head_hash || E'\n' || new_seq::text || E'\n' || now_text || E'\n' || p_body,
        'UTF8')), 'hex');
    INSERT INTO audit_event (
        seq, event_id, occurred_at, recorded_at, actor_id, actor_name, session_hash, environment,
        action, target, params, phase, outcome, attempt_id, http_status, error, request_id,
        client_ip, user_agent, prev_hash, hash)
    VALUES (
        new_seq, (j->>'event_id')::uuid, (j->>'occurred_at')::timestamptz, now_ts,
        (j->>'actor_id')::uuid, j->>'actor_name', j->>'session_hash', j->>'environment',
        j->>'action', j->>'target', j->'params', j->>'phase', j->>'outcome', (j->>'attempt_id')::uuid,
        (j->>'http_status')::int, j->>'error', j->>'request_id', j->>'client_ip', j->>'user_agent',
        head_hash, new_hash);
    RETURN QUERY SELECT new_seq, new_hash, now_ts;
END
$fn$;
"""

# Several events in one transaction: one WAL flush for a whole batch (group commit done
# by the console process, since appends are serialized and cannot share PostgreSQL's).
APPEND_MANY_FUNCTION = r"""
CREATE FUNCTION audit_append_many(p_bodies text[])
RETURNS TABLE (seq bigint, hash text, recorded_at timestamptz)
LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp
AS $fn$
DECLARE
    body text;
BEGIN
    FOREACH body IN ARRAY p_bodies LOOP
        RETURN QUERY SELECT * FROM audit_append(body);
    END LOOP;
END
$fn$;
"""

REJECT_FUNCTION = """
CREATE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
"""


def _create_event_table() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("session_hash", sa.Text(), nullable=True),
        sa.Column("environment", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("attempt_id", sa.Uuid(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.Text(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_event_seq_positive")),
        sa.CheckConstraint("phase IN ('attempt', 'outcome')", name=op.f("ck_audit_event_phase_known")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('ok', 'denied', 'failed', 'unknown')",
            name=op.f("ck_audit_event_outcome_known"),
        ),
        sa.CheckConstraint(
            "(phase = 'attempt' AND outcome IS NULL AND attempt_id IS NULL)"
            " OR (phase = 'outcome' AND outcome IS NOT NULL)",
            name=op.f("ck_audit_event_phase_outcome_shape"),
        ),
        sa.CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name=op.f("ck_audit_event_hash_length")),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["audit_event.event_id"], name=op.f("fk_audit_event_attempt_id_audit_event")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_event_event_id")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    op.create_index(
        "uq_audit_event_attempt_id",
        "audit_event",
        ["attempt_id"],
        unique=True,
        postgresql_where=sa.text("attempt_id IS NOT NULL"),
    )
    op.create_index("ix_audit_event_environment_seq", "audit_event", ["environment", "seq"])
    op.create_index("ix_audit_event_action_seq", "audit_event", ["action", "seq"])
    op.create_index("ix_audit_event_actor_name_seq", "audit_event", ["actor_name", "seq"])
    op.create_index("ix_audit_event_environment_action_seq", "audit_event", ["environment", "action", "seq"])
    op.create_index("ix_audit_event_recorded_at_seq", "audit_event", ["recorded_at", "seq"])
    op.create_index(
        "ix_audit_event_not_ok_seq",
        "audit_event",
        ["outcome", "seq"],
        postgresql_where=sa.text("outcome IN ('denied', 'failed', 'unknown')"),
    )
    op.create_index(
        "ix_audit_event_request_id",
        "audit_event",
        ["request_id"],
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_index(
        "ix_audit_event_open_attempts",
        "audit_event",
        ["recorded_at"],
        postgresql_where=sa.text("phase = 'attempt'"),
    )


def _create_checkpoint_table() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column("checkpoint_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_audit_checkpoint_seq_not_negative")),
        sa.PrimaryKeyConstraint("checkpoint_id", name=op.f("pk_audit_checkpoint")),
    )
    op.create_index("ix_audit_checkpoint_created_at", "audit_checkpoint", ["created_at"])


def _append_only(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_reject_change()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()"
    )


def upgrade() -> None:
    if op.get_bind().execute(sa.text("SHOW server_encoding")).scalar() != "UTF8":
        raise RuntimeError("the console database must use UTF8: audit hashes are computed over UTF-8 bytes")
    _create_event_table()
    # Filter columns are correlated (auth.* events have no environment): without joint
    # statistics the planner expects matches everywhere and scans a million rows for none.
    op.execute(
        "CREATE STATISTICS audit_event_filters (mcv, dependencies) ON environment, action, outcome, phase "
        "FROM audit_event"
    )
    _create_checkpoint_table()
    op.execute(REJECT_FUNCTION)
    op.execute(APPEND_FUNCTION.replace("APPEND_LOCK_KEY", str(APPEND_LOCK_KEY)))
    op.execute(APPEND_MANY_FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION audit_append(text) FROM PUBLIC")
    op.execute("REVOKE ALL ON FUNCTION audit_append_many(text[]) FROM PUBLIC")
    _append_only("audit_event")
    _append_only("audit_checkpoint")
    for_runtime_role(
        "REVOKE ALL ON audit_event FROM {role}",
        "GRANT SELECT, INSERT ON audit_event TO {role}",
        "REVOKE ALL ON audit_checkpoint FROM {role}",
        "GRANT SELECT, INSERT ON audit_checkpoint TO {role}",
        "GRANT EXECUTE ON FUNCTION audit_append(text) TO {role}",
        "GRANT EXECUTE ON FUNCTION audit_append_many(text[]) TO {role}",
    )


def downgrade() -> None:
    # Dropping the tables is the only change triggers cannot stop; it is an owner's act.
    op.execute("DROP TABLE IF EXISTS audit_checkpoint")
    op.execute("DROP TABLE IF EXISTS audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_append_many(text[])")
    op.execute("DROP FUNCTION IF EXISTS audit_append(text)")
    op.execute("DROP FUNCTION IF EXISTS audit_reject_change()")
