"""One request budget per broker account, shared by every Raptor process of the environment.

``broker_request_budgets`` holds, per account, the time its next request is due at the
steady rate (GCRA's theoretical arrival time). ``raptor_broker_budget_take`` reserves the
next slot and answers how many seconds to wait before sending (``reserved`` false, and
nothing reserved, when that is longer than the caller may wait); ``raptor_broker_budget_hold``
makes everyone wait after the broker answered 429. Both read the database's clock under the
row's lock, so the clocks of different dynos never meet. See ``raptor/broker/budget.py``.

UNLOGGED: a transaction that changed only this table commits without flushing WAL, and
a crash only resets the budget (to "full"), which the broker's own 429 then corrects.
PL/pgSQL keeps its plans for the session (a SQL function would be planned on every call).
"""

from alembic import op

revision = "r20261203_0008"
down_revision = "r20261127_0007"

TABLE = """
CREATE UNLOGGED TABLE broker_request_budgets (
    name text NOT NULL,
    due_at timestamptz NOT NULL,
    CONSTRAINT pk_broker_request_budgets PRIMARY KEY (name)
)
"""

TAKE = """
CREATE FUNCTION raptor_broker_budget_take(
    p_name text, p_interval_s double precision, p_burst integer, p_max_wait_s double precision,
    OUT wait_s double precision, OUT reserved boolean
)
LANGUAGE plpgsql AS $fn$
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
$fn$
"""

HOLD = """
CREATE FUNCTION raptor_broker_budget_hold(
    p_name text, p_interval_s double precision, p_burst integer, p_seconds double precision
) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Nobody sends before now + p_seconds, and then at the steady rate (no burst).
    INSERT INTO broker_request_budgets AS b (name, due_at)
    VALUES (p_name, clock_timestamp() + make_interval(secs => p_seconds + (p_burst - 1) * p_interval_s))
    ON CONFLICT (name) DO UPDATE SET due_at = GREATEST(b.due_at, EXCLUDED.due_at);
END
$fn$
"""


def upgrade() -> None:
    for statement in (TABLE, TAKE, HOLD):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION raptor_broker_budget_hold(text, double precision, integer, double precision)")
    op.execute("DROP FUNCTION raptor_broker_budget_take(text, double precision, integer, double precision)")
    op.execute("DROP TABLE broker_request_budgets")
