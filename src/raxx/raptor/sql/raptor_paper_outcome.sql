-- raptor_paper_outcome
--
-- What a paper placement reports: status, average price, its one fill (in the API's form),
-- filled_at. A SQL function so PostgreSQL inlines it into raptor_submit_paper_batch's statement.
--
-- As it stands at head: last defined by migration r20261127_0007
-- (src/raxx/raptor/migrations/versions/20261127_0007_set_based_batches.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_paper_outcome(
    p_quantity numeric, p_fill_qty numeric, p_price numeric, p_now timestamp with time zone, p_now_iso text
) RETURNS TABLE (
    status text, avg_price numeric, fills jsonb, filled_at timestamp with time zone
)
LANGUAGE sql IMMUTABLE
AS $fn$
    -- What a placement reports: filled, partially filled or resting, and its one fill.
    SELECT CASE WHEN p_fill_qty = p_quantity THEN 'filled' WHEN p_fill_qty > 0 THEN 'partially_filled' ELSE 'new' END,
           CASE WHEN p_fill_qty > 0 THEN p_price END,
           CASE WHEN p_fill_qty > 0
                THEN jsonb_build_array(jsonb_build_object('quantity', trim_scale(p_fill_qty)::text,
                                                          'price', trim_scale(p_price)::text, 'at', p_now_iso))
                ELSE '[]'::jsonb END,
           CASE WHEN p_fill_qty = p_quantity THEN p_now END
$fn$;
