"""Paper submissions in batches: one call places every order that arrived together and
answers each with its stored API JSON.

Why (measured with pgbench against this server, ``bench/README.md``): one call of
``raptor_submit_paper`` per order cost ~0.5 ms of PostgreSQL per order at one connection
(about 0.24 ms inside the function, the rest the statement, the commit and the round trip),
and every buy held the one paper account row until its commit's WAL flush returned, so the
rate fell as connections rose (2,711 calls/s at 8, 1,813 at 32). Raptor's process sat at
that ceiling with a third of its time idle, PostgreSQL at a full core.

``raptor_submit_paper_batch`` takes the orders Raptor received meanwhile (one JSON array, an
object per order) and, in one transaction:

1. takes the venue's lock (the account row) once, first: every writer of orders on this
   path then holds it, so waiting for a client order id another batch is inserting cannot
   deadlock; reads the halt switch once;
2. per order: the order with the venue's answer (a client order id Raptor already has is
   a replay, ``not_inserted``), the venue's copy (an id only the venue has is the venue's
   refusal to explain, ``refused``), the settlement (a buy beyond buying power or a sell
   beyond the free position is ``refused``) and the request log. A refused order's rows
   are deleted again in the same transaction: nothing of it stays. Known ids are found by
   the inserts' ``ON CONFLICT`` arbiter indexes rather than by lookups, which PostgreSQL
   may plan as sequential scans while the tables look empty and keep that plan cached
   (measured: orders per second fell by half within seconds after ``VACUUM ANALYZE`` of
   the emptied tables).

Its commit is synchronous: a batch is answered once it is on disk. The account lock is held
through that one flush per batch, not per order; a Raptor process runs one batch at a time,
so only other processes wait for it. (Tried under wrk: committing asynchronously and then
confirming the flush with a second, lock-free transaction before answering. In the same
call, a procedure that commits, it was no faster; as a separate statement, clearly slower:
the extra transaction cost more than the shorter lock saved.)

pgbench, same server, one connection: a batch of 1 order 0.55 ms, of 8 orders 1.24 ms
(0.11 ms per further order). The answers are the orders' ``wire_json`` (rendered by the
trigger of r20261127_0004), which Raptor sends as they are.
"""

from alembic import op

from raxx.common.migrations import revision_sql

revision = "r20261127_0006"
down_revision = "r20261127_0005"

_SINGLE_ARGS = (
    "uuid, text, text, text, text, text, numeric, numeric, text, text, text, uuid, numeric, numeric, timestamptz, text"
)

SUBMIT_PAPER_BATCH = """
CREATE FUNCTION raptor_submit_paper_batch(
    p_orders json, OUT halted boolean, OUT outcomes text[], OUT statuses text[], OUT wire_jsons text[]
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_count integer := json_array_length(p_orders);
    v_halted boolean;
    v_status text;
    v_json text;
    i integer := 0;
    r record;
    t record;
    v_out record;
BEGIN
    -- The venue's lock first, for the whole batch: every writer of orders on this path holds
    -- it, so waiting below for a client order id another batch is inserting cannot deadlock.
    PERFORM 1 FROM paper_account a WHERE a.id = 1 FOR UPDATE;
    SELECT ts.halted INTO v_halted FROM trading_state ts WHERE ts.id = 1;
    halted := COALESCE(v_halted, false);
    outcomes := array_fill(NULL::text, ARRAY[v_count]);
    statuses := outcomes;
    wire_jsons := outcomes;
    IF v_halted IS NOT FALSE THEN
        outcomes := array_fill('not_inserted'::text, ARRAY[v_count]);
        RETURN;
    END IF;
    -- One JSON array of orders (one round trip, one parameter): cheaper for the caller to
    -- write than sixteen typed arrays, and PostgreSQL types each field here.
    FOR r IN SELECT * FROM json_to_recordset(p_orders) AS x(
        id uuid, client_order_id text, symbol text, side text, type text, time_in_force text, quantity numeric,
        limit_price numeric, token_id text, actor text, request_id text, venue_order_id uuid, liquidity numeric,
        path_price numeric, now timestamptz, now_iso text)
    LOOP
        i := i + 1;
        t := raptor_paper_terms(r.symbol, r.side, r.quantity, r.limit_price, r.liquidity, r.path_price);
        v_out := raptor_paper_outcome(r.quantity, t.fill_qty, t.price, r.now, r.now_iso);
        -- Known ids are found by the inserts' arbiter indexes, not by lookups the planner
        -- could turn into sequential scans (a plan cached while the table looked empty).
        INSERT INTO orders AS o (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                                 status, broker_order_id, filled_quantity, filled_avg_price, fills, filled_at,
                                 updated_at, token_id, actor, request_id)
        VALUES (r.id, r.client_order_id, r.symbol, r.side, r.type, r.time_in_force, r.quantity, r.limit_price,
                v_out.status, r.venue_order_id::text, t.fill_qty, v_out.avg_price, v_out.fills, v_out.filled_at,
                clock_timestamp(), r.token_id, r.actor, r.request_id)
        ON CONFLICT (client_order_id) DO NOTHING
        RETURNING o.status, o.wire_json INTO v_status, v_json;
        IF NOT FOUND THEN  -- Raptor has an order with this id: a replay
            outcomes[i] := 'not_inserted';
            CONTINUE;
        END IF;
        INSERT INTO paper_orders AS po (id, client_order_id, symbol, side, type, time_in_force, quantity,
                                        limit_price, status, filled_quantity, filled_avg_price, reserved_cash, fills,
                                        created_at, updated_at, filled_at)
        VALUES (r.venue_order_id, r.client_order_id, r.symbol, r.side, r.type, r.time_in_force, r.quantity,
                r.limit_price, v_out.status, t.fill_qty, v_out.avg_price, t.still_reserved, v_out.fills,
                r.now, r.now, v_out.filled_at)
        ON CONFLICT (client_order_id) DO NOTHING;
        IF NOT FOUND THEN  -- the venue has it and Raptor had not: the venue's to explain
            DELETE FROM orders o WHERE o.id = r.id;
            outcomes[i] := 'refused';
            CONTINUE;
        END IF;
        IF NOT raptor_paper_settle(r.symbol, r.side, r.quantity, t.fill_qty, t.amount, t.need,
                                   t.still_reserved) THEN
            -- Beyond buying power or the free position: nothing of it stays.
            DELETE FROM paper_orders po WHERE po.id = r.venue_order_id;
            DELETE FROM orders o WHERE o.id = r.id;
            outcomes[i] := 'refused';
            CONTINUE;
        END IF;
        INSERT INTO request_log (request_id, action, target, token_id, actor)
        VALUES (r.request_id, 'order.submit', r.id::text, r.token_id, r.actor)
        ON CONFLICT (request_id) DO NOTHING;
        outcomes[i] := 'placed';
        statuses[i] := v_status;
        wire_jsons[i] := v_json;
    END LOOP;
END
$fn$;
"""


# Declared IMMUTABLE, its body calls to_char (STABLE): PostgreSQL then runs it as a function
# call (four per order written, by the render trigger) instead of inlining it into the
# expression. STABLE is what it is (it is in no index); measured with pgbench, a batch of 8
# orders 1.36 -> 1.24 ms.
JSON_TIME_STABLE = "ALTER FUNCTION raptor_json_time(timestamptz) STABLE"


def upgrade() -> None:
    op.execute(f"DROP FUNCTION raptor_submit_paper({_SINGLE_ARGS})")
    op.execute(SUBMIT_PAPER_BATCH)
    op.execute(JSON_TIME_STABLE)


def downgrade() -> None:
    op.execute("ALTER FUNCTION raptor_json_time(timestamptz) IMMUTABLE")
    op.execute("DROP FUNCTION raptor_submit_paper_batch(json)")
    created = revision_sql("raptor", "r20261127_0005", "SUBMIT_PAPER")
    op.execute(created.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1))
