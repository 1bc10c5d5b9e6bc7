-- raptor_paper_terms
--
-- The paper venue's terms for one order (reads only): the price, the quantity that fills,
-- what a buy needs in buying power, the amount paid and the cash still reserved.
-- A SQL function so PostgreSQL inlines it into raptor_submit_paper_batch's statement.
--
-- As it stands at head: last defined by migration r20261127_0007
-- (src/raxx/raptor/migrations/versions/20261127_0007_set_based_batches.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_paper_terms(
    p_symbol text, p_side text, p_quantity numeric, p_limit_price numeric, p_liquidity numeric,
    p_path_price numeric
) RETURNS TABLE (
    price numeric, fill_qty numeric, need numeric, amount numeric, still_reserved numeric
)
LANGUAGE sql STABLE
AS $fn$
    -- A pinned price wins over the path; a marketable order fills at most ``liquidity``. A
    -- limit buy never pays more than its limit; a market buy is priced at the quote.
    SELECT q.price, f.fill_qty, n.need, f.fill_qty * q.price, n.need * (p_quantity - f.fill_qty) / p_quantity
    -- A join, not a scalar subquery: inlined, the subquery would be run once per use of the price.
    FROM (SELECT COALESCE(pp.price, p_path_price) AS price
          FROM (SELECT) AS one LEFT JOIN paper_prices pp ON pp.symbol = p_symbol) q
    CROSS JOIN LATERAL (
        SELECT CASE WHEN p_limit_price IS NULL
                      OR (p_side = 'buy' AND q.price <= p_limit_price)
                      OR (p_side = 'sell' AND q.price >= p_limit_price)
                    THEN LEAST(p_quantity, COALESCE(p_liquidity, p_quantity)) ELSE 0 END AS fill_qty) f
    CROSS JOIN LATERAL (
        SELECT CASE WHEN p_side = 'buy' THEN p_quantity * COALESCE(p_limit_price, q.price) ELSE 0 END AS need) n
$fn$;
