-- raptor_paper_place
--
-- The paper venue's own placement of one order (the paper broker's ``submit`` when the
-- order is not placed inside Raptor's transaction): terms, settlement, the venue's copy.
-- No row back: the client order id is known, or the order is refused.
--
-- As it stands at head: last defined by migration r20261127_0007
-- (src/raxx/raptor/migrations/versions/20261127_0007_set_based_batches.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_paper_place(
    p_venue_order_id uuid, p_client_order_id text, p_symbol text, p_side text, p_type text, p_time_in_force text,
    p_quantity numeric, p_limit_price numeric, p_liquidity numeric, p_path_price numeric,
    p_now timestamp with time zone, p_now_iso text
) RETURNS SETOF paper_orders
LANGUAGE plpgsql
AS $fn$
DECLARE
    t record;
BEGIN
    -- No row back: the client order id is known, or the order is refused (nothing changed).
    IF EXISTS (SELECT 1 FROM paper_orders po WHERE po.client_order_id = p_client_order_id) THEN
        RETURN;
    END IF;
    SELECT * INTO t FROM raptor_paper_terms(p_symbol, p_side, p_quantity, p_limit_price, p_liquidity, p_path_price);
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
