-- audit_append
--
-- The only writer of audit_event: the append lock (advisory, key crc32('raxx.audit.append')),
-- the head read after it, the next seq, recorded_at from the database clock (never before
-- the head's), the hash exactly as console/audit/canonical.chain_hash computes it, and the
-- version-2 fields (body_version, session_env, origin). Created by c20261126_0003_audit;
-- EXECUTE is revoked from PUBLIC and granted to the runtime role there (not part of this text).
--
-- As it stands at head: last defined by migration c20261203_0006_audit_session_env
-- (src/raxx/console/migrations/versions/20261203_0006_audit_session_env.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION audit_append(p_body text) RETURNS TABLE (
    seq bigint, hash text, recorded_at timestamp with time zone
)
LANGUAGE plpgsql
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
    PERFORM pg_advisory_xact_lock(3122375045);
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
        client_ip, user_agent, prev_hash, hash, body_version, session_env, origin)
    VALUES (
        new_seq, (j->>'event_id')::uuid, (j->>'occurred_at')::timestamptz, now_ts,
        (j->>'actor_id')::uuid, j->>'actor_name', j->>'session_hash', j->>'environment',
        j->>'action', j->>'target', j->'params', j->>'phase', j->>'outcome', (j->>'attempt_id')::uuid,
        (j->>'http_status')::int, j->>'error', j->>'request_id', j->>'client_ip', j->>'user_agent',
        head_hash, new_hash, coalesce((j->>'v')::smallint, 1), j->>'session_env', j->>'origin');
    RETURN QUERY SELECT new_seq, new_hash, now_ts;
END
$fn$;
