"""``/v1/orders``: submit, list, get, cancel one, cancel all. Thin: parse, call, return."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from raxx.raptor.deps import (
    BrokerDep,
    DatabaseDep,
    MetricsDep,
    ReadCaller,
    RequestIdDep,
    SessionDep,
    StateDep,
    TradeCaller,
)
from raxx.raptor.openapi import BODY_ERRORS, error_responses, route
from raxx.raptor.order import cursor as cursors
from raxx.raptor.order import service
from raxx.raptor.order.idprefix import id_range
from raxx.raptor.order.repository import OrderFilter
from raxx.raptor.order.schemas import (
    CLIENT_ORDER_ID_PATTERN,
    CancelAllResult,
    OrderCreate,
    OrderList,
    OrderRead,
    OrderSummary,
    order_bytes,
)
from raxx.raptor.order.submission import Submitted, submit
from raxx.raptor.vocabulary import OrderStatus, Side
from raxx.raptor.wire import Symbol

router = APIRouter(prefix="/v1/orders", tags=["orders"])
JSON = "application/json"
#: Orders per page of the list when no ``limit`` is given, and the most a page may hold.
DEFAULT_PAGE = 50
MAX_PAGE = 500


def order_json(model: OrderRead | OrderList, status_code: int = 200) -> Response:
    return Response(order_bytes(model), status_code=status_code, media_type=JSON)


def submitted_json(submitted: Submitted) -> Response:
    """201 with a new order, 200 with the order a replayed client order id first placed."""
    return Response(submitted.json, status_code=201 if submitted.created else 200, media_type=JSON)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.post(
    "",
    status_code=201,
    response_model=OrderRead,
    summary="Submit an order (idempotent by client_order_id)",
    description=(
        "201 with the new order. A buy beyond buying power (or a sell beyond the position) is recorded with "
        "status `rejected` and a `reject_reason`. Repeating a client_order_id with the same body returns the "
        "original order (200); with a different body it is refused (409 `idempotency_conflict`). While trading "
        "is halted new orders get 409 `trading_halted` with the reason and who halted."
    ),
    responses={
        200: {"model": OrderRead, "description": "replay: the order first placed with this client_order_id"},
        **error_responses(*BODY_ERRORS, 409, 503),
    },
)
async def submit_order(
    body: OrderCreate,
    db: DatabaseDep,
    broker: BrokerDep,
    caller: TradeCaller,
    request_id: RequestIdDep,
    counts: MetricsDep,
) -> Response:
    submission = submit(db, broker, caller=caller, request_id=request_id, body=body)
    return submitted_json(await counts.submission(submission))


@route(
    router.get,
    "",
    "List orders, newest first, with cursor pagination",
    response_model=OrderList,
    description=(
        "Filters combine (AND): `status` (repeatable), `symbol`, `side`, `client_order_id` (exact), `id` (a full "
        "order id or a prefix of 4+ hex digits), `created_since`/`created_until`. Pages are keyset (the cursor "
        "is the last order's created_at and id), so a page costs the same however deep."
    ),
)
async def list_orders(
    db: DatabaseDep,
    caller: ReadCaller,
    status: Annotated[list[OrderStatus] | None, Query(description="repeat to match any of several")] = None,
    symbol: Symbol | None = None,
    side: Side | None = None,
    client_order_id: Annotated[str | None, Query(min_length=1, max_length=128, pattern=CLIENT_ORDER_ID_PATTERN)] = None,
    id: Annotated[
        str | None, Query(max_length=36, description="an order id, or its first 4 or more hex digits")
    ] = None,
    created_since: Annotated[datetime | None, Query(description="inclusive; no offset means UTC")] = None,
    created_until: Annotated[datetime | None, Query(description="exclusive; no offset means UTC")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> Response:
    page = OrderFilter(
        limit=limit,
        statuses=status or (),
        symbol=symbol,
        side=side,
        client_order_id=client_order_id,
        id_range=id_range(id) if id else None,
        since=_utc(created_since),
        until=_utc(created_until),
        before=cursors.decode(cursor) if cursor else None,
    )
    body = await service.list_json(db, page)
    return Response(body, media_type=JSON)


@route(
    router.get, "/summary", "Counts for an overview: open orders; orders, fills and rejections by reason today (UTC)"
)
async def order_summary(session: SessionDep, caller: ReadCaller) -> OrderSummary:
    return await service.summary(session, now=datetime.now(UTC))


@route(router.delete, "", "Cancel every open order (works while halted)")
async def cancel_all_orders(
    session: SessionDep, broker: BrokerDep, caller: TradeCaller, request_id: RequestIdDep, counts: MetricsDep
) -> CancelAllResult:
    return await service.cancel_all(
        session, broker, caller=caller, request_id=request_id, on_cancel=counts.orders_cancelled.inc
    )


@route(router.get, "/{order_id}", "One order, refreshed from the broker while open", 404, response_model=OrderRead)
async def get_order(order_id: uuid.UUID, session: SessionDep, state: StateDep, caller: ReadCaller) -> Response:
    return order_json(await service.get(session, state.broker, order_id, pending_grace=state.settings.pending_grace))


@route(
    router.delete,
    "/{order_id}",
    "Cancel one order (idempotent; works while halted)",
    404,
    409,
    503,
    descriptions={"d409": "the order is filled or rejected (`order_not_cancelable`, with `status`)"},
    response_model=OrderRead,
)
async def cancel_order(
    order_id: uuid.UUID,
    session: SessionDep,
    broker: BrokerDep,
    caller: TradeCaller,
    request_id: RequestIdDep,
    counts: MetricsDep,
) -> Response:
    canceled = await service.cancel(
        session, broker, caller=caller, request_id=request_id, order_id=order_id, on_cancel=counts.orders_cancelled.inc
    )
    return order_json(canceled)
