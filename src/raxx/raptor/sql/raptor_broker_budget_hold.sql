-- raptor_broker_budget_hold
--
-- Makes every process wait p_seconds before its next request to the broker account (after
-- a 429), then send at the steady rate.
--
-- As it stands at head: last defined by migration r20261203_0008
-- (src/raxx/raptor/migrations/versions/20261203_0008_broker_budget.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_broker_budget_hold(
    p_name text, p_interval_s double precision, p_burst integer, p_seconds double precision
) RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    -- Nobody sends before now + p_seconds, and then at the steady rate (no burst).
    INSERT INTO broker_request_budgets AS b (name, due_at)
    VALUES (p_name, clock_timestamp() + make_interval(secs => p_seconds + (p_burst - 1) * p_interval_s))
    ON CONFLICT (name) DO UPDATE SET due_at = GREATEST(b.due_at, EXCLUDED.due_at);
END
$fn$;
