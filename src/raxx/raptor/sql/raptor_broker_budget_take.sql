-- raptor_broker_budget_take
--
-- Reserves the next request slot of a broker account's shared budget (GCRA) and answers
-- how long to wait before sending; nothing reserved when that is longer than p_max_wait_s.
-- Reads the database's clock under the row's lock (raptor/broker/budget.py).
--
-- As it stands at head: last defined by migration r20261203_0008
-- (src/raxx/raptor/migrations/versions/20261203_0008_broker_budget.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_broker_budget_take(
    p_name text, p_interval_s double precision, p_burst integer, p_max_wait_s double precision,
    OUT wait_s double precision, OUT reserved boolean
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    due timestamptz;
    now_ts timestamptz;
BEGIN
    SELECT b.due_at INTO due FROM broker_request_budgets b WHERE b.name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO broker_request_budgets (name, due_at) VALUES (p_name, clock_timestamp())
        ON CONFLICT (name) DO NOTHING;
        SELECT b.due_at INTO due FROM broker_request_budgets b WHERE b.name = p_name FOR UPDATE;
    END IF;
    now_ts := clock_timestamp();  -- after the lock: a caller never acts on a time older than the row
    due := GREATEST(due, now_ts);
    -- The slot is due at ``due``; a burst of ``p_burst`` may run ahead of it by (burst - 1) intervals.
    wait_s := GREATEST(0, EXTRACT(EPOCH FROM due - now_ts)::double precision - (p_burst - 1) * p_interval_s);
    reserved := wait_s <= p_max_wait_s;
    IF reserved THEN
        UPDATE broker_request_budgets SET due_at = due + make_interval(secs => p_interval_s) WHERE name = p_name;
    END IF;
END
$fn$;
