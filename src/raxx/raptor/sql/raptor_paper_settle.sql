-- raptor_paper_settle
--
-- The paper venue's settlement of one order: the money and the shares, under the venue's
-- lock (the account row, then the position row). False, with nothing changed: a buy beyond
-- buying power or a sell beyond the free position. Called by raptor_paper_place;
-- raptor_submit_paper_batch settles the same rules set-wise, in its own variables.
--
-- As it stands at head: last defined by migration r20261127_0005
-- (src/raxx/raptor/migrations/versions/20261127_0005_paper_place.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_paper_settle(
    p_symbol text, p_side text, p_quantity numeric, p_fill_qty numeric, p_amount numeric, p_need numeric,
    p_still_reserved numeric
) RETURNS boolean
LANGUAGE plpgsql
AS $fn$
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
