-- raptor_orders_render
--
-- The trigger that writes ``orders.wire_json``, the order as ``OrderRead`` serializes it,
-- on every insert and update: ``GET /v1/orders`` sends the stored text as it is. Fills are
-- copied as stored (every writer stores them in the API's form).
-- tests/raptor/test_order_wire_json.py holds it equal to OrderRead, field for field.
--
-- As it stands at head: last defined by migration r20261127_0004
-- (src/raxx/raptor/migrations/versions/20261127_0004_order_wire_json.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_orders_render() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    -- One expression, no subquery: PL/pgSQL evaluates it without starting an executor.
    NEW.wire_json := json_build_object(
        'id', NEW.id, 'client_order_id', NEW.client_order_id, 'symbol', NEW.symbol, 'side', NEW.side,
        'type', NEW.type, 'time_in_force', NEW.time_in_force, 'quantity', raptor_json_decimal(NEW.quantity),
        'limit_price', raptor_json_decimal(NEW.limit_price), 'status', NEW.status,
        'filled_quantity', raptor_json_decimal(NEW.filled_quantity),
        'filled_avg_price', raptor_json_decimal(NEW.filled_avg_price), 'fills', NEW.fills,
        'reject_reason', NEW.reject_reason, 'cancel_reason', NEW.cancel_reason,
        'broker_order_id', NEW.broker_order_id,
        'created_at', raptor_json_time(NEW.created_at), 'updated_at', raptor_json_time(NEW.updated_at),
        'canceled_at', raptor_json_time(NEW.canceled_at), 'filled_at', raptor_json_time(NEW.filled_at),
        'token_id', NEW.token_id, 'actor', NEW.actor, 'request_id', NEW.request_id)::text;
    RETURN NEW;
END
$fn$;

CREATE OR REPLACE TRIGGER orders_render BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION raptor_orders_render();
