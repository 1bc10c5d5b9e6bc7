"""The paper venue's placement is one SQL function; the one-call submission records the order once.

Revision ID: r20261127_0005
Revises: r20261127_0004
Create Date: 2026-11-27

``raptor_paper_place`` is the venue's placement (the rules ``broker/paper_sql.py``
describes). Before, its statement was written twice, in ``paper_sql.PLACE_ORDER`` and
inside ``raptor_submit_paper``; both now call this function.

``raptor_submit_paper`` now places first and then inserts the order with the venue's
answer, instead of inserting it as ``new`` and updating it: one heap tuple, one set of
index entries and one rendering of ``wire_json`` per order instead of two (measured:
about 40 % less PostgreSQL time per call). It is still one transaction, so the order and
the venue's copy exist together or not at all. A known client order id is answered
``not_inserted`` before anything is placed; two first uses of one id racing each other
both pass that check, and the later one's insert fails on the unique constraint, which
aborts its whole transaction (the caller runs it again and finds the order: a replay).
"""

from collections.abc import Sequence

from alembic import op

from raxx.common.migrations import revision_sql

revision: str = "r20261127_0005"
down_revision: str | Sequence[str] | None = "r20261127_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAPER_PLACE = """
CREATE FUNCTION raptor_paper_place(
    p_venue_order_id uuid, p_client_order_id text, p_symbol text, p_side text, p_type text, p_time_in_force text,
    p_quantity numeric, p_limit_price numeric, p_liquidity numeric, p_path_price numeric, p_now timestamptz,
    p_now_iso text
) RETURNS SETOF paper_orders
-- PL/pgSQL, not SQL: PostgreSQL plans a SQL function's body again on every call from
-- another statement; PL/pgSQL keeps the plan for the session (measured: the SQL version
-- made a submission slower than the statement written inline).
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Account row locked first, then the position (see broker/paper_sql.py). No row back:
    -- refused (beyond buying power or the free position) or the client order id is known.
    RETURN QUERY
    WITH input AS (
        SELECT p_quantity AS qty, p_limit_price AS limit_price, p_side AS side,
               COALESCE((SELECT pp.price FROM paper_prices pp WHERE pp.symbol = p_symbol), p_path_price) AS price,
               p_liquidity AS liquidity, p_now AS now
    ),
    terms AS (
        SELECT i.*,
               CASE WHEN i.limit_price IS NULL
                      OR (i.side = 'buy' AND i.price <= i.limit_price)
                      OR (i.side = 'sell' AND i.price >= i.limit_price)
                    THEN LEAST(i.qty, COALESCE(i.liquidity, i.qty)) ELSE 0 END AS fill_qty,
               CASE WHEN i.side = 'buy' THEN i.qty * COALESCE(i.limit_price, i.price) ELSE 0 END AS need
        FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM paper_orders po WHERE po.client_order_id = p_client_order_id)
    ),
    account_lock AS (
        SELECT a.id FROM paper_account a WHERE a.id = 1 FOR UPDATE
    ),
    sized AS (
        SELECT t.*, t.fill_qty * t.price AS amount, t.need * (t.qty - t.fill_qty) / t.qty AS still_reserved
        FROM terms t
    ),
    shares AS (
        UPDATE paper_positions p
        SET held = p.held + s.qty - s.fill_qty,
            quantity = p.quantity - s.fill_qty,
            cost_basis = p.cost_basis - p.cost_basis * s.fill_qty / p.quantity
        FROM sized s
        WHERE s.side = 'sell' AND p.symbol = p_symbol AND p.quantity - p.held >= s.qty
          AND EXISTS (SELECT 1 FROM account_lock)
        RETURNING p.symbol
    ),
    funds AS (
        UPDATE paper_account a
        SET cash = a.cash + CASE WHEN s.side = 'buy' THEN -s.amount ELSE s.amount END,
            reserved = a.reserved + s.still_reserved
        FROM sized s
        WHERE a.id = 1
          AND CASE WHEN s.side = 'buy' THEN a.cash - a.reserved >= s.need ELSE EXISTS (SELECT 1 FROM shares) END
        RETURNING a.id
    ),
    bought AS (
        INSERT INTO paper_positions AS p (symbol, quantity, held, cost_basis)
        SELECT p_symbol, s.fill_qty, 0, s.amount FROM sized s, funds WHERE s.side = 'buy' AND s.fill_qty > 0
        ON CONFLICT (symbol) DO UPDATE
        SET quantity = p.quantity + excluded.quantity, cost_basis = p.cost_basis + excluded.cost_basis
    ),
    placed AS (
        INSERT INTO paper_orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                                  status, filled_quantity, filled_avg_price, reserved_cash, fills,
                                  created_at, updated_at, filled_at)
        SELECT p_venue_order_id, p_client_order_id, p_symbol, s.side, p_type, p_time_in_force, s.qty, s.limit_price,
               CASE WHEN s.fill_qty = s.qty THEN 'filled'
                    WHEN s.fill_qty > 0 THEN 'partially_filled' ELSE 'new' END,
               s.fill_qty,
               CASE WHEN s.fill_qty > 0 THEN s.price END,
               s.still_reserved,
               CASE WHEN s.fill_qty > 0
                    THEN jsonb_build_array(jsonb_build_object('quantity', trim_scale(s.fill_qty)::text,
                                                              'price', trim_scale(s.price)::text,
                                                              'at', p_now_iso))
                    ELSE CAST('[]' AS jsonb) END,
               s.now, s.now,
               CASE WHEN s.fill_qty = s.qty THEN s.now END
        FROM sized s, funds
        RETURNING *
    )
    SELECT * FROM placed;
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
    v_placed paper_orders%ROWTYPE;
    v_order orders%ROWTYPE;
BEGIN
    -- The venue's pool commits asynchronously; an order's one commit must wait for its WAL flush.
    PERFORM set_config('synchronous_commit', 'on', true);
    -- 'not_inserted': halted, or a known client order id; nothing written, the caller replays.
    SELECT t.halted INTO v_halted FROM trading_state t WHERE t.id = 1;
    IF v_halted IS NOT FALSE OR EXISTS (SELECT 1 FROM orders o WHERE o.client_order_id = p_client_order_id) THEN
        RETURN QUERY SELECT 'not_inserted', COALESCE(v_halted, false), NULL::timestamptz, NULL::timestamptz,
            NULL::text, NULL::text, NULL::numeric, NULL::numeric, NULL::jsonb, NULL::timestamptz;
        RETURN;
    END IF;

    SELECT * INTO v_placed FROM raptor_paper_place(
        p_venue_order_id, p_client_order_id, p_symbol, p_side, p_type, p_time_in_force, p_quantity, p_limit_price,
        p_liquidity, p_path_price, p_now, p_now_iso);

    -- Refused by the venue (no row): the order goes on record as 'new'; the caller asks the
    -- venue why and records the rejection (rare, so not worth doing here).
    INSERT INTO orders AS o (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                             status, broker_order_id, filled_quantity, filled_avg_price, fills, filled_at,
                             updated_at, token_id, actor, request_id)
    VALUES (p_id, p_client_order_id, p_symbol, p_side, p_type, p_time_in_force, p_quantity, p_limit_price,
            COALESCE(v_placed.status, 'new'), v_placed.id::text, COALESCE(v_placed.filled_quantity, 0),
            v_placed.filled_avg_price, COALESCE(v_placed.fills, '[]'::jsonb), v_placed.filled_at,
            CASE WHEN v_placed.id IS NULL THEN now() ELSE clock_timestamp() END, p_token_id, p_actor, p_request_id)
    RETURNING o.* INTO v_order;
    INSERT INTO request_log (request_id, action, target, token_id, actor)
    VALUES (p_request_id, 'order.submit', p_id::text, p_token_id, p_actor)
    ON CONFLICT (request_id) DO NOTHING;

    RETURN QUERY SELECT CASE WHEN v_placed.id IS NULL THEN 'refused' ELSE 'placed' END, false,
        v_order.created_at, v_order.updated_at, v_order.status::text, v_order.broker_order_id::text,
        v_order.filled_quantity, v_order.filled_avg_price, v_order.fills, v_order.filled_at;
END
$fn$;
"""


def upgrade() -> None:
    op.execute(PAPER_PLACE)
    op.execute(SUBMIT_PAPER)


def downgrade() -> None:
    created = revision_sql("raptor", "r20261127_0003", "SUBMIT_PAPER")
    op.execute(created.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute(
        "DROP FUNCTION raptor_paper_place(uuid, text, text, text, text, text, numeric, numeric, numeric, numeric,"
        " timestamptz, text)"
    )
