"""Order submission: idempotent by client order id, recorded before the broker hears of it.

Anywhere but the paper venue, a submission is two commits: the order is recorded, then
sent, then the broker's answer recorded (a crash or a silent broker leaves a pending order
that ``service.sync_open_orders`` finishes). On the paper venue, which lives in Raptor's
database, the order, its request log and the venue's copy are written by one database call
shared with the orders that arrived meanwhile (``raxx.raptor.broker.paper.batching``). Every
connection comes from ``RaptorDatabase``: services and endpoints never choose a pool.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields
from typing import Any, NamedTuple

from raxx.common.clock import utcnow
from raxx.common.errors import Conflict
from raxx.common.ids import uuid7
from raxx.raptor.broker.base import Broker, BrokerOrder, BrokerRejected, BrokerUnavailable, OrderIntent
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.database import RaptorDatabase
from raxx.raptor.errors import IdempotencyConflict
from raxx.raptor.logctx import raptor_event
from raxx.raptor.order import repository
from raxx.raptor.order.schemas import OrderCreate, OrderRead, order_bytes
from raxx.raptor.requestlog import repository as requests
from raxx.raptor.token.service import Caller
from raxx.raptor.trading import repository as trading_repository
from raxx.raptor.trading.service import halted_error
from raxx.raptor.wire import plain_decimal, wire_time

log = logging.getLogger("raxx.raptor.order")
_COMPARED = ("symbol", "side", "type", "time_in_force", "quantity", "limit_price")


def to_read(row: Mapping[Any, Any]) -> OrderRead:
    return OrderRead.model_validate(dict(row))


class Submitted(NamedTuple):
    """A submission's answer: the order as the API writes it, and whether it is new
    (False: an idempotent replay of the order first placed with its client order id)."""

    json: bytes
    created: bool

    @classmethod
    def of(cls, order: OrderRead, created: bool) -> Submitted:
        return cls(order_bytes(order), created)


def _same_order(row: Mapping[Any, Any], body: OrderCreate) -> bool:
    """Decimals compare by value: ``10`` and ``10.00`` are the same quantity."""
    return all(row[name] == getattr(body, name) for name in _COMPARED)


def broker_values(placed: BrokerOrder) -> dict[str, Any]:
    return {
        "status": placed.status,
        "broker_order_id": placed.broker_order_id,
        "filled_quantity": placed.filled_quantity,
        "filled_avg_price": placed.filled_avg_price,
        # In the API's own form (see ``wire_time``): the list renders stored fills as they are.
        "fills": [
            {"quantity": plain_decimal(f.quantity), "price": plain_decimal(f.price), "at": wire_time(f.at)}
            for f in placed.fills
        ],
        "canceled_at": placed.canceled_at,
        "filled_at": placed.filled_at,
        "cancel_reason": placed.cancel_reason,
        "updated_at": utcnow(),
    }


async def submit(
    db: RaptorDatabase, broker: Broker, *, caller: Caller, request_id: str, body: OrderCreate
) -> Submitted:
    """Place an order; return it and whether it is new (False: an idempotent replay).

    Two commits, on purpose (like an audit attempt): the order is on record, with who
    asked, before the broker hears of it, and the broker's answer is recorded after.
    A crash or a broker that does not answer in between leaves a ``new`` order without
    a broker id, which ``sync_open_orders`` finishes (the broker dedupes by client id).
    No connection is held while the broker works. On the paper venue the order, its request
    log and the venue's copy are written by one database call, shared with the orders that
    arrived meanwhile (``RaptorDatabase.place_paper``); a refusal by the venue is then
    recorded in the two steps.
    """
    order_id = uuid7()  # time-ordered: the order tables' indexes grow at their right edge
    client_order_id = body.client_order_id or f"rx-{order_id.hex}"
    recorded: dict[str, Any] = {
        "id": order_id,
        "client_order_id": client_order_id,
        "symbol": body.symbol,
        "side": body.side,
        "type": body.type,
        "time_in_force": body.time_in_force,
        "quantity": body.quantity,
        "limit_price": body.limit_price,
        "token_id": caller.token_id,
        "actor": caller.actor,
        "request_id": request_id,
    }
    if isinstance(broker, PaperBroker) and broker.places_in_raptor_transaction:
        return await _submit_on_paper_venue(
            db, broker, caller=caller, request_id=request_id, body=body, recorded=recorded
        )
    return await _submit_in_steps(
        db,
        broker.submit,
        caller=caller,
        request_id=request_id,
        body=body,
        recorded=recorded,
        durable=not broker.shares_raptor_database,
    )


async def _submit_in_steps(
    db: RaptorDatabase,
    send: Callable[[OrderIntent], Awaitable[BrokerOrder]],
    *,
    caller: Caller,
    request_id: str,
    body: OrderCreate,
    recorded: dict[str, Any],
    durable: bool,
) -> Submitted:
    """Record the order (unless halted or known), then ``send`` it and record the answer;
    each step its own statement and transaction (``db.statements()``), and no connection
    held while the broker works (an Alpaca call may take seconds)."""
    client_order_id = recorded["client_order_id"]
    async with db.statements() as conn:
        created_at, halted = await repository.insert_unless_halted(conn, recorded, durable=durable)
        if created_at is None:
            replayed = await _replay(
                conn, caller=caller, request_id=request_id, body=body, client_order_id=client_order_id, halted=halted
            )
            return Submitted.of(replayed, False)
    row = {**recorded, **_NEW_ORDER, "created_at": created_at, "updated_at": created_at}
    outcome = await broker_outcome(send, order_id=row["id"], intent=order_intent(recorded))
    async with db.statements() as conn:
        await repository.record_outcome(conn, row["id"], outcome)
    return Submitted.of(to_read({**row, **outcome}), True)


async def _submit_on_paper_venue(
    db: RaptorDatabase,
    broker: PaperBroker,
    *,
    caller: Caller,
    request_id: str,
    body: OrderCreate,
    recorded: dict[str, Any],
) -> Submitted:
    """The paper venue lives in Raptor's database: record, log and place in one transaction
    (``raptor_submit_paper_batch``, with whatever other orders arrived meanwhile), so there
    is no window in which one has the order and the other does not; the answer is the
    order's JSON as PostgreSQL rendered it on write. Replays and halts take the generic
    replay; a refusal by the venue (nothing written) the generic steps, with the venue's
    reason recorded as a rejection."""
    intent = order_intent(recorded)
    placement = await db.place_paper({**recorded, **broker.placement_terms(intent)})
    if placement.outcome == "not_inserted":
        async with db.statements() as conn:
            replayed = await _replay(
                conn,
                caller=caller,
                request_id=request_id,
                body=body,
                client_order_id=recorded["client_order_id"],
                halted=placement.halted,
            )
        return Submitted.of(replayed, False)
    if placement.outcome == "refused":
        return await _submit_in_steps(
            db,
            broker.explain_refusal,
            caller=caller,
            request_id=request_id,
            body=body,
            recorded=recorded,
            durable=True,
        )
    assert placement.wire_json is not None  # placed: the function returns the stored JSON
    raptor_event(log, "order.submit.ok", order_id=str(recorded["id"]), status=placement.status)
    return Submitted(placement.wire_json, True)


#: What a freshly recorded order holds besides what the caller sent (the table's defaults).
_NEW_ORDER: dict[str, Any] = {
    "status": "new",
    "filled_quantity": 0,
    "filled_avg_price": None,
    "fills": [],
    "reject_reason": None,
    "cancel_reason": None,
    "broker_order_id": None,
    "canceled_at": None,
    "filled_at": None,
}


_INTENT_FIELDS = tuple(f.name for f in fields(OrderIntent))


def order_intent(record: Mapping[str, Any]) -> OrderIntent:
    """What the broker is asked for an order on record (or about to be): its own fields."""
    return OrderIntent(**{name: record[name] for name in _INTENT_FIELDS})


async def broker_outcome(
    send: Callable[[OrderIntent], Awaitable[BrokerOrder]], *, order_id: uuid.UUID, intent: OrderIntent
) -> dict[str, Any]:
    """Send a recorded order to the broker (``send``: its ``submit``, or the paper venue's
    ``explain_refusal``) and return what to record of its answer (placed or rejected)."""
    try:
        placed = await send(intent)
    except BrokerRejected as exc:
        raptor_event(log, "order.submit.rejected", order_id=str(order_id), code=exc.code)
        return {"status": "rejected", "reject_reason": exc.reason, "updated_at": utcnow()}
    except BrokerUnavailable as exc:
        raptor_event(log, "order.submit.broker_unavailable", level=logging.WARNING, order_id=str(order_id))
        raise BrokerUnavailable(
            exc.reason,
            detail=f"the broker did not answer ({exc.reason}); the order is recorded as pending and will be "
            "placed or closed when the broker answers",
            extra={"order_id": str(order_id)},
        ) from exc
    raptor_event(log, "order.submit.ok", order_id=str(order_id), status=placed.status)
    return broker_values(placed)


async def _replay(
    conn: repository.Db, *, caller: Caller, request_id: str, body: OrderCreate, client_order_id: str, halted: bool
) -> OrderRead:
    existing = await repository.find_by_client_order_id(conn, client_order_id)
    if existing is None:
        if halted:
            raise halted_error(await trading_repository.current(conn))
        raise Conflict("a concurrent submission with this client order id did not complete; retry")
    if not _same_order(existing, body):
        raise IdempotencyConflict(
            f"client_order_id {client_order_id!r} was already used for a different order",
            extra={"order_id": str(existing["id"])},
        )
    await requests.record(
        conn,
        request_id=request_id,
        action="order.submit",
        target=str(existing["id"]),
        token_id=caller.token_id,
        actor=caller.actor,
    )
    raptor_event(log, "order.submit.replayed", order_id=str(existing["id"]))
    return to_read(existing)
