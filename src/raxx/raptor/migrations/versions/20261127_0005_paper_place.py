"""The paper venue's rules written once; the one-call submission takes the venue's lock last.

The venue's placement was written twice (``paper_sql.PLACE_ORDER`` and inside
``raptor_submit_paper``). Its rules are now two PL/pgSQL functions both paths call:
``raptor_paper_terms`` (price, fill, what a buy needs; reads only) and
``raptor_paper_settle`` (the money and the shares, under the venue's lock: the account
row, then the position row, as everywhere). ``raptor_paper_place`` is the venue's own
placement (``PLACE_ORDER``). PL/pgSQL rather than SQL functions: PostgreSQL plans a SQL
function's body again on every call; PL/pgSQL keeps its plans for the session.

``raptor_submit_paper`` now writes the venue's copy, the order (once, with the venue's
answer, instead of inserted as ``new`` and updated) and the request log first, and settles
last: every buy locks the one account row until its transaction commits, and measured
under load most sessions were waiting for that lock (``pg_stat_activity``:
``Lock:transactionid``), so the lock is now held for the settlement and the commit only.
A refusal (beyond buying power or the free position) raises ``RX001``, which undoes the
whole transaction; the caller then records the order and the venue's reason in the
generic steps (rare). It is still one transaction: the order and the venue's copy exist
together or not at all. A known client order id is answered ``not_inserted`` before
anything is written; two first uses of one id racing each other both pass that check and
the later one's insert fails on the unique constraint, which aborts it whole (the caller
runs it again and finds the order: a replay).
"""

from alembic import op

from raxx.common.migrations import revision_sql

revision = "r20261127_0005"
down_revision = "r20261127_0004"

TERMS = """
CREATE FUNCTION raptor_paper_terms(
    p_symbol text, p_side text, p_quantity numeric, p_limit_price numeric, p_liquidity numeric, p_path_price numeric,
    OUT price numeric, OUT fill_qty numeric, OUT need numeric, OUT amount numeric, OUT still_reserved numeric
)
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    -- A pinned price wins over the path; a marketable order fills at most ``liquidity``.
    price := COALESCE((SELECT pp.price FROM paper_prices pp WHERE pp.symbol = p_symbol), p_path_price);
    fill_qty := CASE WHEN p_limit_price IS NULL
                       OR (p_side = 'buy' AND price <= p_limit_price)
                       OR (p_side = 'sell' AND price >= p_limit_price)
                     THEN LEAST(p_quantity, COALESCE(p_liquidity, p_quantity)) ELSE 0 END;
    -- A limit buy never pays more than its limit; a market buy is priced at the quote.
    need := CASE WHEN p_side = 'buy' THEN p_quantity * COALESCE(p_limit_price, price) ELSE 0 END;
    amount := fill_qty * price;
    still_reserved := need * (p_quantity - fill_qty) / p_quantity;
END
$fn$;
"""

SETTLE = """
CREATE FUNCTION raptor_paper_settle(
    p_symbol text, p_side text, p_quantity numeric, p_fill_qty numeric, p_amount numeric, p_need numeric,
    p_still_reserved numeric
) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    -- The venue's lock: the account row first, then the position row (see broker/paper_sql.py).
    -- Each UPDATE rechecks its condition on the newest row version it waited for.
    IF p_side = 'buy' THEN
        UPDATE paper_account a
        SET cash = a.cash - p_amount, reserved = a.reserved + p_still_reserved
        WHERE a.id = 1 AND a.cash - a.reserved >= p_need;
        IF NOT FOUND THEN
            RETURN false;  -- beyond buying power
        END IF;
        IF p_fill_qty > 0 THEN
            INSERT INTO paper_positions AS p (symbol, quantity, held, cost_basis)
            VALUES (p_symbol, p_fill_qty, 0, p_amount)
            ON CONFLICT (symbol) DO UPDATE
            SET quantity = p.quantity + excluded.quantity, cost_basis = p.cost_basis + excluded.cost_basis;
        END IF;
        RETURN true;
    END IF;
    PERFORM 1 FROM paper_account a WHERE a.id = 1 FOR UPDATE;
    UPDATE paper_positions p
    SET held = p.held + p_quantity - p_fill_qty,
        quantity = p.quantity - p_fill_qty,
        cost_basis = p.cost_basis - p.cost_basis * p_fill_qty / p.quantity
    WHERE p.symbol = p_symbol AND p.quantity - p.held >= p_quantity;
    IF NOT FOUND THEN
        RETURN false;  -- beyond the free position (no short selling)
    END IF;
    UPDATE paper_account a SET cash = a.cash + p_amount WHERE a.id = 1;
    RETURN true;
END
$fn$;
"""

PAPER_PLACE = """
CREATE FUNCTION raptor_paper_place(
    p_venue_order_id uuid, p_client_order_id text, p_symbol text, p_side text, p_type text, p_time_in_force text,
    p_quantity numeric, p_limit_price numeric, p_liquidity numeric, p_path_price numeric, p_now timestamptz,
    p_now_iso text
) RETURNS SETOF paper_orders
LANGUAGE plpgsql AS $fn$
DECLARE
    t record;
BEGIN
    -- No row back: the client order id is known, or the order is refused (nothing changed).
    IF EXISTS (SELECT 1 FROM paper_orders po WHERE po.client_order_id = p_client_order_id) THEN
        RETURN;
    END IF;
    t := raptor_paper_terms(p_symbol, p_side, p_quantity, p_limit_price, p_liquidity, p_path_price);
    IF NOT raptor_paper_settle(p_symbol, p_side, p_quantity, t.fill_qty, t.amount, t.need, t.still_reserved) THEN
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO paper_orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                              status, filled_quantity, filled_avg_price, reserved_cash, fills,
                              created_at, updated_at, filled_at)
    SELECT p_venue_order_id, p_client_order_id, p_symbol, p_side, p_type, p_time_in_force, p_quantity, p_limit_price,
           o.status, t.fill_qty, o.avg_price, t.still_reserved, o.fills, p_now, p_now, o.filled_at
    FROM raptor_paper_outcome(p_quantity, t.fill_qty, t.price, p_now, p_now_iso) o
    RETURNING *;
END
$fn$;
"""

OUTCOME = """
CREATE FUNCTION raptor_paper_outcome(
    p_quantity numeric, p_fill_qty numeric, p_price numeric, p_now timestamptz, p_now_iso text,
    OUT status text, OUT avg_price numeric, OUT fills jsonb, OUT filled_at timestamptz
)
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    -- What a placement reports: filled, partially filled or resting, and its one fill.
    status := CASE WHEN p_fill_qty = p_quantity THEN 'filled'
                   WHEN p_fill_qty > 0 THEN 'partially_filled' ELSE 'new' END;
    avg_price := CASE WHEN p_fill_qty > 0 THEN p_price END;
    fills := CASE WHEN p_fill_qty > 0
                  THEN jsonb_build_array(jsonb_build_object('quantity', trim_scale(p_fill_qty)::text,
                                                            'price', trim_scale(p_price)::text, 'at', p_now_iso))
                  ELSE '[]'::jsonb END;
    filled_at := CASE WHEN p_fill_qty = p_quantity THEN p_now END;
END
$fn$;
"""

SUBMIT_PAPER = """
CREATE OR REPLACE FUNCTION raptor_submit_paper(
    p_id uuid, p_client_order_id text, p_symbol text, p_side text, p_type text, p_time_in_force text,
    p_quantity numeric, p_limit_price numeric, p_token_id text, p_actor text, p_request_id text,
    p_venue_order_id uuid, p_liquidity numeric, p_path_price numeric, p_now timestamptz, p_now_iso text
) RETURNS TABLE (
    outcome text, halted boolean, created_at timestamptz, updated_at timestamptz, status text,
    broker_order_id text, filled_quantity numeric, filled_avg_price numeric, fills jsonb, filled_at timestamptz
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_halted boolean;
    t record;
    v_out record;
    v_order orders%ROWTYPE;
BEGIN
    -- The venue's pool commits asynchronously; an order's one commit must wait for its WAL flush.
    PERFORM set_config('synchronous_commit', 'on', true);
    -- 'not_inserted': halted, or a known client order id; nothing written, the caller replays.
    SELECT ts.halted INTO v_halted FROM trading_state ts WHERE ts.id = 1;
    IF v_halted IS NOT FALSE OR EXISTS (SELECT 1 FROM orders o WHERE o.client_order_id = p_client_order_id) THEN
        RETURN QUERY SELECT 'not_inserted', COALESCE(v_halted, false), NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::jsonb, NULL::timestamptz;
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM paper_orders po WHERE po.client_order_id = p_client_order_id) THEN
        RAISE EXCEPTION 'the paper venue already has this client order id' USING ERRCODE = 'RX001';
    END IF;

    t := raptor_paper_terms(p_symbol, p_side, p_quantity, p_limit_price, p_liquidity, p_path_price);
    v_out := raptor_paper_outcome(p_quantity, t.fill_qty, t.price, p_now, p_now_iso);
    -- The venue's copy, the order with the venue's answer and the request log: rows of
    -- their own, no shared row locked yet.
    INSERT INTO paper_orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                              status, filled_quantity, filled_avg_price, reserved_cash, fills,
                              created_at, updated_at, filled_at)
    VALUES (p_venue_order_id, p_client_order_id, p_symbol, p_side, p_type, p_time_in_force, p_quantity, p_limit_price,
            v_out.status, t.fill_qty, v_out.avg_price, t.still_reserved, v_out.fills, p_now, p_now, v_out.filled_at);
    INSERT INTO orders AS o (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                             status, broker_order_id, filled_quantity, filled_avg_price, fills, filled_at,
                             updated_at, token_id, actor, request_id)
    VALUES (p_id, p_client_order_id, p_symbol, p_side, p_type, p_time_in_force, p_quantity, p_limit_price,
            v_out.status, p_venue_order_id::text, t.fill_qty, v_out.avg_price, v_out.fills, v_out.filled_at,
            clock_timestamp(), p_token_id, p_actor, p_request_id)
    RETURNING o.* INTO v_order;
    INSERT INTO request_log (request_id, action, target, token_id, actor)
    VALUES (p_request_id, 'order.submit', p_id::text, p_token_id, p_actor)
    ON CONFLICT (request_id) DO NOTHING;

    -- Last, the money and the shares under the venue's lock, held from here to the commit.
    IF NOT raptor_paper_settle(p_symbol, p_side, p_quantity, t.fill_qty, t.amount, t.need, t.still_reserved) THEN
        -- Refused: undo it all; the caller records the order and the venue's reason in steps.
        RAISE EXCEPTION 'refused by the paper venue' USING ERRCODE = 'RX001';
    END IF;
    RETURN QUERY SELECT 'placed', false, v_order.created_at, v_order.updated_at, v_order.status::text,
        v_order.broker_order_id::text, v_order.filled_quantity, v_order.filled_avg_price, v_order.fills,
        v_order.filled_at;
END
$fn$;
"""


def upgrade() -> None:
    for function in (TERMS, SETTLE, OUTCOME, PAPER_PLACE, SUBMIT_PAPER):
        op.execute(function)


def downgrade() -> None:
    created = revision_sql("raptor", "r20261127_0003", "SUBMIT_PAPER")
    op.execute(created.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(
        "DROP FUNCTION raptor_paper_place(uuid, text, text, text, text, text, numeric, numeric, numeric, numeric,"
        " timestamptz, text)"
    )
    op.execute("DROP FUNCTION raptor_paper_outcome(numeric, numeric, numeric, timestamptz, text)")
    op.execute("DROP FUNCTION raptor_paper_settle(text, text, numeric, numeric, numeric, numeric, numeric)")
    op.execute("DROP FUNCTION raptor_paper_terms(text, text, numeric, numeric, numeric, numeric)")
