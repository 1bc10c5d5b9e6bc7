"""The paper broker's order placement as one SQL statement.

Why one statement: the account row is the venue's lock. Held across several round
trips, under load it is also held across event-loop turns of a busy process, and every
order queues behind it (measured: throughput fell as connections rose). As one
statement in autocommit, the row is locked only while PostgreSQL runs it.

It applies the same rules as ``book.reserve`` followed by ``book.apply_fill`` (which the
periodic pass still uses for resting orders): a buy reserves quantity x (limit or
price) and is refused beyond buying power; a sell holds its shares and is refused
beyond the free position; a marketable order fills at the price, at most ``liquidity``
at a time. Refusals leave nothing behind: the statement returns no row.

Lock order is the account row, then the position row, everywhere (here, ``maintain`` and
``cancel``): a sell reads ``account_lock`` (an InitPlan, run before the position row is
locked) so that a buy and a sell of one symbol cannot deadlock. Rows changed since the
statement's snapshot are rechecked on their newest version (READ COMMITTED re-evaluates the
WHERE and SET of a row it waited for), so every check and sum uses current values.
"""

from __future__ import annotations

from sqlalchemy import text

PLACE_ORDER = text(
    """
    WITH input AS (
        SELECT CAST(:quantity AS numeric) AS qty,
               CAST(:limit_price AS numeric) AS limit_price,
               CAST(:side AS text) AS side,
               COALESCE((SELECT price FROM paper_prices WHERE symbol = :symbol), CAST(:path_price AS numeric)) AS price,
               CAST(:liquidity AS numeric) AS liquidity,
               CAST(:now AS timestamptz) AS now
    ),
    terms AS (
        SELECT i.*,
               CASE WHEN i.limit_price IS NULL
                      OR (i.side = 'buy' AND i.price <= i.limit_price)
                      OR (i.side = 'sell' AND i.price >= i.limit_price)
                    THEN LEAST(i.qty, COALESCE(i.liquidity, i.qty)) ELSE 0 END AS fill_qty,
               CASE WHEN i.side = 'buy' THEN i.qty * COALESCE(i.limit_price, i.price) ELSE 0 END AS need
        FROM input i
        WHERE NOT EXISTS (SELECT 1 FROM paper_orders WHERE client_order_id = :client_order_id)
    ),
    account_lock AS (
        SELECT id FROM paper_account WHERE id = 1 FOR UPDATE
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
        WHERE s.side = 'sell' AND p.symbol = :symbol AND p.quantity - p.held >= s.qty
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
        SELECT :symbol, s.fill_qty, 0, s.amount FROM sized s, funds WHERE s.side = 'buy' AND s.fill_qty > 0
        ON CONFLICT (symbol) DO UPDATE
        SET quantity = p.quantity + excluded.quantity, cost_basis = p.cost_basis + excluded.cost_basis
    ),
    placed AS (
        INSERT INTO paper_orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                                  status, filled_quantity, filled_avg_price, reserved_cash, fills,
                                  created_at, updated_at, filled_at)
        SELECT :id, :client_order_id, :symbol, s.side, :type, :time_in_force, s.qty, s.limit_price,
               CASE WHEN s.fill_qty = s.qty THEN 'filled'
                    WHEN s.fill_qty > 0 THEN 'partially_filled' ELSE 'new' END,
               s.fill_qty,
               CASE WHEN s.fill_qty > 0 THEN s.price END,
               s.still_reserved,
               CASE WHEN s.fill_qty > 0
                    THEN jsonb_build_array(jsonb_build_object('quantity', trim_scale(s.fill_qty)::text,
                                                              'price', trim_scale(s.price)::text,
                                                              'at', CAST(:now_iso AS text)))
                    ELSE CAST('[]' AS jsonb) END,
               s.now, s.now,
               CASE WHEN s.fill_qty = s.qty THEN s.now END
        FROM sized s, funds
        RETURNING *
    )
    SELECT * FROM placed
    """
)
