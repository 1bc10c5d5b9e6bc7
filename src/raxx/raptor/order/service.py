"""Order rules: idempotent submission, cancel, sync with the broker.

A submission records the order before the broker hears of it and the broker's answer after
(two commits: a crash or a silent broker leaves a pending order that ``sync_open_orders``
finishes); on the paper venue the whole placement is one batched call in one transaction.
Reads, cancels and the sync run in the request's transaction (``SessionDep``). Every
connection comes from ``RaptorDatabase``: services and endpoints never choose a pool.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.clock import utcnow
from raxx.common.errors import Conflict
from raxx.common.ids import uuid7
from raxx.raptor.broker.base import (
    Broker,
    BrokerError,
    BrokerNotCancelable,
    BrokerOrder,
    BrokerOrderNotFound,
    BrokerRejected,
    BrokerUnavailable,
    OrderIntent,
)
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.database import RaptorDatabase
from raxx.raptor.errors import IdempotencyConflict, OrderNotCancelable, OrderNotFound
from raxx.raptor.logctx import raptor_event
from raxx.raptor.order import cursor as cursors
from raxx.raptor.order import repository
from raxx.raptor.order.schemas import (
    CancelAllResult,
    CancelFailure,
    OrderCreate,
    OrderRead,
    OrderSummary,
    order_bytes,
)
from raxx.raptor.requestlog import repository as requests
from raxx.raptor.token.service import Caller
from raxx.raptor.trading import repository as trading_repository
from raxx.raptor.trading.service import halted_error
from raxx.raptor.wire import plain_decimal, wire_time

log = logging.getLogger("raxx.raptor.order")
CANCEL_ALL_LIMIT = 1000
SYNC_BATCH = 100
#: How long an order may wait for the broker's first answer before the sync pass takes over.
PENDING_GRACE = timedelta(seconds=5)
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


def _broker_values(placed: BrokerOrder) -> dict[str, Any]:
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
    No connection is held while the broker works. On the paper venue the whole placement
    is one call in one transaction (``RaptorDatabase.place_paper``, batched).
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
    outcome = await _broker_outcome(send, order_id=row["id"], intent=_intent(client_order_id, body))
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
    intent = _intent(recorded["client_order_id"], body)
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


def _intent(client_order_id: str, body: OrderCreate) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id,
        symbol=body.symbol,
        side=body.side,
        type=body.type,
        time_in_force=body.time_in_force,
        quantity=body.quantity,
        limit_price=body.limit_price,
    )


def _recorded_intent(row: Mapping[Any, Any]) -> OrderIntent:
    return OrderIntent(
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=row["side"],
        type=row["type"],
        time_in_force=row["time_in_force"],
        quantity=row["quantity"],
        limit_price=row["limit_price"],
    )


async def _broker_outcome(
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
    return _broker_values(placed)


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


async def summary(session: AsyncSession, *, now: datetime) -> OrderSummary:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    row = await repository.summary(session, day=day)
    rejected = {reason or "(no reason given)": int(n) for reason, n in row["rejected_today"].items()}
    return OrderSummary(
        day_start=day,
        open_orders=row["open_orders"],
        placed_today=row["placed_today"],
        fills_today=int(row["fills_today"]),
        rejected_today=rejected,
    )


async def list_json(db: RaptorDatabase, page: repository.OrderFilter) -> bytes:
    """A page of orders, newest first, as ``OrderList``'s JSON (the orders written by PostgreSQL)."""
    for attempt in range(2):
        try:
            async with db.hot() as conn:
                found = await repository.list_page_json(conn, page)
            break
        except psycopg.OperationalError:
            if attempt == 1:
                raise
            # A connection the database dropped (a restart): the pool replaces it; once more.
    else:
        raise AssertionError("unreachable: the last attempt returns or raises")
    next_cursor = cursors.encode(*found.last_key) if found.last_key else None
    return b'{"orders":[' + found.orders_json + b'],"next_cursor":' + json.dumps(next_cursor).encode() + b"}"


async def get(
    session: AsyncSession, broker: Broker, order_id: uuid.UUID, *, pending_grace: timedelta = PENDING_GRACE
) -> OrderRead:
    """The order, refreshed from the broker first if it is still open."""
    row = await repository.find(session, order_id)
    if row is None:
        raise OrderNotFound(f"no order {order_id}")
    return to_read(await _sync(session, broker, row, pending_grace=pending_grace))


async def _sync(
    session: AsyncSession, broker: Broker, row: Mapping[Any, Any], *, pending_grace: timedelta = PENDING_GRACE
) -> Mapping[Any, Any]:
    if row["status"] not in ("new", "partially_filled"):
        return row
    if row["broker_order_id"] is None:
        return await _finish_pending(session, broker, row, pending_grace=pending_grace)
    try:
        current = await broker.get(row["broker_order_id"])
    except BrokerError as exc:
        raptor_event(log, "order.sync.failed", level=logging.WARNING, order_id=str(row["id"]), reason=exc.reason)
        return row
    if current.status == row["status"] and current.filled_quantity == row["filled_quantity"]:
        return row
    return await repository.update_order(session, row["id"], _broker_values(current))


async def _finish_pending(
    session: AsyncSession, broker: Broker, row: Mapping[Any, Any], *, pending_grace: timedelta
) -> Mapping[Any, Any]:
    """An order on record that never got the broker's answer: adopt the broker's copy if it
    has one, else place it now (the client order id makes that safe), unless halted since."""
    if utcnow() - row["created_at"] < pending_grace:
        return row  # its own request may still be talking to the broker
    try:
        found = await broker.get_by_client_order_id(row["client_order_id"])
    except BrokerError:
        return row
    if found is not None:
        return await repository.update_order(session, row["id"], _broker_values(found))
    if (await trading_repository.current(session))["halted"]:
        return await repository.update_order(
            session,
            row["id"],
            {
                "status": "canceled",
                "canceled_at": utcnow(),
                "updated_at": utcnow(),
                "cancel_reason": "trading was halted before the order reached the broker",
            },
        )
    try:
        outcome = await _broker_outcome(broker.submit, order_id=row["id"], intent=_recorded_intent(row))
    except BrokerUnavailable:
        return row
    await repository.record_outcome(session, row["id"], outcome)
    return {**row, **outcome}


def _uncounted() -> None:
    return None


async def cancel(
    session: AsyncSession,
    broker: Broker,
    *,
    caller: Caller,
    request_id: str,
    order_id: uuid.UUID,
    on_cancel: Callable[[], None] = _uncounted,
) -> OrderRead:
    """Cancel one order. Canceling a canceled order is a no-op; a filled or rejected one is a 409.
    ``on_cancel`` is called when this call canceled it (the metric counts it)."""
    found = await repository.find(session, order_id, for_update=True)
    if found is None:
        raise OrderNotFound(f"no order {order_id}")
    row = await _cancel_row(session, broker, found)
    if row is not found:
        on_cancel()
    await requests.record(
        session,
        request_id=request_id,
        action="order.cancel",
        target=str(order_id),
        token_id=caller.token_id,
        actor=caller.actor,
    )
    raptor_event(log, "order.cancel.ok", order_id=str(order_id))
    return to_read(row)


async def _cancel_row(session: AsyncSession, broker: Broker, row: Mapping[Any, Any]) -> Mapping[Any, Any]:
    status = row["status"]
    if status == "canceled":
        return row
    if status in ("filled", "rejected"):
        raise OrderNotCancelable(
            f"the order is already {status}; only open orders can be canceled",
            extra={"order_id": str(row["id"]), "status": status},
        )
    try:
        canceled = await _cancel_at_broker(broker, row)
    except BrokerNotCancelable as exc:
        raise OrderNotCancelable(
            f"the broker would not cancel: {exc.reason}",
            extra={"order_id": str(row["id"]), "status": exc.order.status},
        ) from exc
    except BrokerUnavailable as exc:
        raise BrokerUnavailable(
            exc.reason, detail=f"the broker did not answer ({exc.reason}); the order is unchanged"
        ) from exc
    if canceled is None:  # recorded here but never reached the broker (a crash mid-submit)
        return await repository.update_order(
            session,
            row["id"],
            {
                "status": "canceled",
                "canceled_at": utcnow(),
                "updated_at": utcnow(),
                "cancel_reason": "canceled on request; the order never reached the broker",
            },
        )
    return await repository.update_order(session, row["id"], _broker_values(canceled))


async def _cancel_at_broker(broker: Broker, row: Mapping[Any, Any]) -> BrokerOrder | None:
    broker_order_id = row["broker_order_id"]
    if broker_order_id is None:
        found = await broker.get_by_client_order_id(row["client_order_id"])
        if found is None:
            return None
        broker_order_id = found.broker_order_id
    try:
        return await broker.cancel(broker_order_id)
    except BrokerOrderNotFound:
        return None


async def cancel_all(
    session: AsyncSession,
    broker: Broker,
    *,
    caller: Caller,
    request_id: str,
    on_cancel: Callable[[], None] = _uncounted,
) -> CancelAllResult:
    """Cancel every open order; report those the broker refused instead of failing the batch.
    ``on_cancel`` is called for each order canceled."""
    canceled: list[OrderRead] = []
    failed: list[CancelFailure] = []
    for row in await repository.open_orders(session, limit=CANCEL_ALL_LIMIT, lock="wait"):
        try:
            canceled.append(to_read(await _cancel_row(session, broker, row)))
            on_cancel()
        except (OrderNotCancelable, BrokerUnavailable) as exc:
            failed.append(CancelFailure(order_id=row["id"], error=exc.code, detail=str(exc.detail)))
    await requests.record(
        session,
        request_id=request_id,
        action="order.cancel_all",
        target=f"{len(canceled)} orders",
        token_id=caller.token_id,
        actor=caller.actor,
    )
    raptor_event(log, "order.cancel_all.ok", canceled=len(canceled), failed=len(failed))
    return CancelAllResult(canceled=canceled, failed=failed)


async def sync_open_orders(db: RaptorDatabase, broker: Broker, *, pending_grace: timedelta = PENDING_GRACE) -> None:
    """Bring open orders up to date with the broker (fills of resting limit orders, expiries)."""
    async with db.transaction() as session:
        for row in await repository.open_orders(session, limit=SYNC_BATCH, lock="skip"):
            await _sync(session, broker, row, pending_grace=pending_grace)
