"""Order rules after submission (``submission.py``): reads, cancels, sync with the broker.

``get``, ``cancel`` and ``cancel_all`` run in the request's transaction (``SessionDep``);
``sync_open_orders`` (the maintenance loop) in one of its own; ``list_json`` on the hot
pool, one statement. Every connection comes from ``RaptorDatabase``: services and
endpoints never choose a pool.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.clock import utcnow
from raxx.raptor.broker.base import (
    Broker,
    BrokerError,
    BrokerNotCancelable,
    BrokerOrder,
    BrokerOrderNotFound,
    BrokerUnavailable,
)
from raxx.raptor.database import RaptorDatabase
from raxx.raptor.errors import OrderNotCancelable, OrderNotFound
from raxx.raptor.logctx import raptor_event
from raxx.raptor.order import cursor as cursors
from raxx.raptor.order import repository
from raxx.raptor.order.schemas import CancelAllResult, CancelFailure, OrderRead, OrderSummary
from raxx.raptor.order.submission import broker_outcome, broker_values, order_intent, to_read
from raxx.raptor.requestlog import repository as requests
from raxx.raptor.token.service import Caller
from raxx.raptor.trading import repository as trading_repository
from raxx.raptor.vocabulary import OPEN_STATUSES

log = logging.getLogger("raxx.raptor.order")
CANCEL_ALL_LIMIT = 1000
SYNC_BATCH = 100
#: How long an order may wait for the broker's first answer before the sync pass takes over.
PENDING_GRACE = timedelta(seconds=5)


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
    if row["status"] not in OPEN_STATUSES:
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
    return await repository.update_order(session, row["id"], broker_values(current))


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
        return await repository.update_order(session, row["id"], broker_values(found))
    if (await trading_repository.current(session))["halted"]:
        return await _cancel_unsent(session, row, "trading was halted before the order reached the broker")
    try:
        outcome = await broker_outcome(broker.submit, order_id=row["id"], intent=order_intent(row))
    except BrokerUnavailable:
        return row
    await repository.record_outcome(session, row["id"], outcome)
    return {**row, **outcome}


async def _cancel_unsent(session: AsyncSession, row: Mapping[Any, Any], reason: str) -> Mapping[Any, Any]:
    """Close an order on record that never reached the broker."""
    return await repository.update_order(
        session,
        row["id"],
        {"status": "canceled", "canceled_at": utcnow(), "updated_at": utcnow(), "cancel_reason": reason},
    )


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
        return await _cancel_unsent(session, row, "canceled on request; the order never reached the broker")
    return await repository.update_order(session, row["id"], broker_values(canceled))


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
