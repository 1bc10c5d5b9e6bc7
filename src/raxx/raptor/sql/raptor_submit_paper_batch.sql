-- raptor_submit_paper_batch
--
-- Raptor's paper submissions, a batch per call, in one transaction: the orders, the venue's
-- copies, the settlement order by order (in variables, written once), the request log; each
-- order answered with its outcome, status and stored API JSON. The migration's docstring
-- explains the design and its measurements.
--
-- As it stands at head: last defined by migration r20261127_0007
-- (src/raxx/raptor/migrations/versions/20261127_0007_set_based_batches.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_submit_paper_batch(
    p_orders json, OUT halted boolean, OUT outcomes text[], OUT statuses text[], OUT wire_jsons text[]
)
LANGUAGE plpgsql
AS $fn$
#variable_conflict use_column
DECLARE
    v_count integer := json_array_length(p_orders);
    v_halted boolean;
    v_cash numeric;
    v_reserved numeric;
    v_cash_before numeric;
    v_reserved_before numeric;
    -- The positions the batch settles, read when the loop first meets their symbol (the
    -- account lock guards them too): symbol k holds (v_pos_qty[k], v_pos_held[k], v_pos_cost[k]).
    v_pos_symbols text[] := '{}';
    v_pos_qty numeric[] := '{}';
    v_pos_held numeric[] := '{}';
    v_pos_cost numeric[] := '{}';
    v_pos_touched boolean[] := '{}';
    v_quantity numeric;
    v_held numeric;
    v_cost numeric;
    v_refused uuid[] := '{}';
    v_refused_venue uuid[] := '{}';
    -- What the request log needs of each placed order, gathered by the loop.
    v_placed uuid[] := '{}';
    v_placed_requests text[] := '{}';
    v_placed_tokens text[] := '{}';
    v_placed_actors text[] := '{}';
    i integer;
    k integer;
    r record;
BEGIN
    -- The venue's lock first, for the whole batch: every writer of orders on this path holds
    -- it, so waiting below for a client order id another batch is inserting cannot deadlock.
    -- The halt switch is read in the same statement (alone when there is no account yet).
    SELECT a.cash, a.reserved, (SELECT ts.halted FROM trading_state ts WHERE ts.id = 1)
    INTO v_cash, v_reserved, v_halted
    FROM paper_account a WHERE a.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        SELECT ts.halted INTO v_halted FROM trading_state ts WHERE ts.id = 1;
    END IF;
    v_cash_before := v_cash;
    v_reserved_before := v_reserved;
    halted := COALESCE(v_halted, false);
    outcomes := array_fill(NULL::text, ARRAY[v_count]);
    statuses := outcomes;
    wire_jsons := outcomes;
    IF v_halted IS NOT FALSE THEN
        outcomes := array_fill('not_inserted'::text, ARRAY[v_count]);
        RETURN;
    END IF;
    -- Every order and the venue's copy, one insert per table, run whole before the loop
    -- reads its first row. Known ids are found by the inserts' arbiter indexes, not by
    -- lookups the planner could turn into sequential scans (a plan cached while the table
    -- looked empty). The inserts are not sorted: a batch's client order ids are distinct, so
    -- their order changes nothing (sorting cost 3 % of a batch of 4). The loop settles the
    -- money and the shares order by order, in variables.
    FOR r IN
        WITH s AS (
            SELECT x.*, t.price, t.fill_qty, t.need, t.amount, t.still_reserved, v.status, v.avg_price, v.fills,
                   v.filled_at
            FROM ROWS FROM (json_to_recordset(p_orders) AS (
                id uuid, client_order_id text, symbol text, side text, type text, time_in_force text,
                quantity numeric, limit_price numeric, token_id text, actor text, request_id text,
                venue_order_id uuid, liquidity numeric, path_price numeric, now timestamptz, now_iso text))
                WITH ORDINALITY AS x
            CROSS JOIN LATERAL raptor_paper_terms(x.symbol, x.side, x.quantity, x.limit_price, x.liquidity,
                                                  x.path_price) t
            CROSS JOIN LATERAL raptor_paper_outcome(x.quantity, t.fill_qty, t.price, x.now, x.now_iso) v
        ), o AS (
            INSERT INTO orders AS o (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                                     status, broker_order_id, filled_quantity, filled_avg_price, fills, filled_at,
                                     updated_at, token_id, actor, request_id)
            SELECT s.id, s.client_order_id, s.symbol, s.side, s.type, s.time_in_force, s.quantity, s.limit_price,
                   s.status, s.venue_order_id::text, s.fill_qty, s.avg_price, s.fills, s.filled_at,
                   clock_timestamp(), s.token_id, s.actor, s.request_id
            FROM s
            ON CONFLICT (client_order_id) DO NOTHING
            RETURNING o.id, o.status, o.wire_json
        ), po AS (
            INSERT INTO paper_orders AS po (id, client_order_id, symbol, side, type, time_in_force, quantity,
                                            limit_price, status, filled_quantity, filled_avg_price, reserved_cash,
                                            fills, created_at, updated_at, filled_at)
            SELECT s.venue_order_id, s.client_order_id, s.symbol, s.side, s.type, s.time_in_force, s.quantity,
                   s.limit_price, s.status, s.fill_qty, s.avg_price, s.still_reserved, s.fills, s.now, s.now,
                   s.filled_at
            FROM s JOIN o ON o.id = s.id
            ON CONFLICT (client_order_id) DO NOTHING
            RETURNING po.id
        )
        SELECT s.ordinality::integer AS i, s.id, s.request_id, s.token_id, s.actor, s.venue_order_id, s.symbol,
               s.side, s.quantity, s.fill_qty, s.amount, s.need, s.still_reserved, o.id IS NOT NULL AS inserted,
               po.id IS NOT NULL AS venue_took,
               o.status::text AS status, o.wire_json
        FROM s LEFT JOIN o ON o.id = s.id LEFT JOIN po ON po.id = s.venue_order_id
        ORDER BY s.ordinality
    LOOP
        i := r.i;
        IF NOT r.inserted THEN  -- Raptor has an order with this id: a replay
            outcomes[i] := 'not_inserted';
            CONTINUE;
        END IF;
        IF NOT r.venue_took THEN  -- the venue has it and Raptor had not: the venue's to explain
            v_refused := v_refused || r.id;
            outcomes[i] := 'refused';
            CONTINUE;
        END IF;
        k := array_position(v_pos_symbols, r.symbol::text);
        IF k IS NULL THEN
            SELECT COALESCE(max(p.quantity), 0), COALESCE(max(p.held), 0), COALESCE(max(p.cost_basis), 0)
            INTO v_quantity, v_held, v_cost
            FROM paper_positions p WHERE p.symbol = r.symbol;
            k := cardinality(v_pos_symbols) + 1;
            v_pos_symbols[k] := r.symbol;
            v_pos_qty[k] := v_quantity;
            v_pos_held[k] := v_held;
            v_pos_cost[k] := v_cost;
            v_pos_touched[k] := false;
        END IF;
        -- Beyond buying power (a buy) or the free position (a sell: no short selling)? IS NOT
        -- TRUE: no account row is no buying power, as the per-order UPDATE found no row.
        IF (CASE WHEN r.side = 'buy' THEN v_cash - v_reserved >= r.need
                 ELSE v_pos_qty[k] - v_pos_held[k] >= r.quantity END) IS NOT TRUE THEN
            v_refused := v_refused || r.id;
            v_refused_venue := v_refused_venue || r.venue_order_id;
            outcomes[i] := 'refused';
            CONTINUE;
        END IF;
        IF r.side = 'buy' THEN
            v_cash := round(v_cash - r.amount, 12);
            v_reserved := round(v_reserved + r.still_reserved, 12);
            IF r.fill_qty > 0 THEN
                v_pos_qty[k] := round(v_pos_qty[k] + r.fill_qty, 8);
                v_pos_cost[k] := round(v_pos_cost[k] + r.amount, 12);
                v_pos_touched[k] := true;
            END IF;
        ELSE
            v_pos_held[k] := round(v_pos_held[k] + r.quantity - r.fill_qty, 8);
            v_pos_cost[k] := round(v_pos_cost[k] - v_pos_cost[k] * r.fill_qty / v_pos_qty[k], 12);
            v_pos_qty[k] := round(v_pos_qty[k] - r.fill_qty, 8);
            v_pos_touched[k] := true;
            v_cash := round(v_cash + r.amount, 12);
        END IF;
        v_placed := v_placed || r.id;
        v_placed_requests := v_placed_requests || r.request_id;
        v_placed_tokens := v_placed_tokens || r.token_id;
        v_placed_actors := v_placed_actors || r.actor;
        outcomes[i] := 'placed';
        statuses[i] := r.status;
        wire_jsons[i] := r.wire_json;
    END LOOP;

    -- Nothing of a refused order stays.
    IF cardinality(v_refused) > 0 THEN
        DELETE FROM paper_orders po WHERE po.id = ANY (v_refused_venue);
        DELETE FROM orders o WHERE o.id = ANY (v_refused);
    END IF;
    -- The money and the shares, once for the batch (one statement; nothing to insert when
    -- no position changed, and the account is left alone when its money did not).
    WITH a AS (
        UPDATE paper_account a SET cash = v_cash, reserved = v_reserved
        WHERE a.id = 1 AND (v_cash IS DISTINCT FROM v_cash_before OR v_reserved IS DISTINCT FROM v_reserved_before)
    )
    INSERT INTO paper_positions AS p (symbol, quantity, held, cost_basis)
    SELECT c.symbol, c.quantity, c.held, c.cost_basis
    FROM unnest(v_pos_symbols, v_pos_qty, v_pos_held, v_pos_cost, v_pos_touched)
         AS c(symbol, quantity, held, cost_basis, touched)
    WHERE c.touched
    ON CONFLICT (symbol) DO UPDATE
    SET quantity = excluded.quantity, held = excluded.held, cost_basis = excluded.cost_basis;
    -- The request log of the placed orders (Raptor's runtime role may not delete from it).
    IF cardinality(v_placed) > 0 THEN
        INSERT INTO request_log (request_id, action, target, token_id, actor)
        SELECT x.request_id, 'order.submit', x.id::text, x.token_id, x.actor
        FROM unnest(v_placed_requests, v_placed, v_placed_tokens, v_placed_actors) AS x(request_id, id, token_id, actor)
        ON CONFLICT (request_id) DO NOTHING;
    END IF;
END
$fn$;
