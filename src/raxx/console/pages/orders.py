"""Orders in one environment: list (filters, pages, auto-refresh), detail, place, cancel, cancel all.

Every URL names the environment; every form carries it; the server acts there or refuses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raxx.common.actions import CANCEL_ALL_ORDERS, CANCEL_ORDER, PLACE_ORDER
from raxx.common.contracts.trading import OrderList, canonical_order_id, order_id_from
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import BadRequest, NotFound
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth.roles import can
from raxx.console.auth.service import Login
from raxx.console.deps import DbDep, EnvReaderDep, StateDep, require_capability, wants_fragment, web_actor
from raxx.console.operations import service
from raxx.console.operations.forms import (
    OrderForm,
    new_client_order_id,
    parse_order_filter,
    parse_order_form,
    short_ids,
)
from raxx.console.pages.downloads import audited_download
from raxx.console.pages.guard import audited_action, backend_read, begin_mutation, note_refusal, panel_status
from raxx.console.pages.notices import notice_from
from raxx.console.raptor.refusals import RaptorRefusal
from raxx.console.raptor.trading_api import OrderQuery, TradingClient
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["orders"], route_class=AuditedRoute)
#: Orders per request to Raptor while exporting (its largest page).
EXPORT_PAGE = 500
EXPORT_COLUMNS = (
    "id",
    "client_order_id",
    "created_at",
    "symbol",
    "side",
    "type",
    "time_in_force",
    "quantity",
    "limit_price",
    "status",
    "filled_quantity",
    "filled_avg_price",
    "reject_reason",
    "cancel_reason",
    "updated_at",
    "actor",
    "request_id",
)


def _order_id(raw: str) -> uuid.UUID:
    """An id that is not a UUID cannot name an order: the same 404 as an unknown one."""
    if (order_id := order_id_from(raw)) is None:
        raise NotFound("There is no such order. Check the id, and the environment in the URL.")
    return order_id


@router.get("/{env}/orders", response_class=HTMLResponse)
async def orders_page(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    filters = parse_order_filter(request.query_params, request.query_params.getlist("status"))
    page, error = None, None
    if filters.query is not None:
        client = service.client_for(state, spec, web_actor(request, login))
        page, error = await backend_read(client.list_orders(filters.query))
    fragment = wants_fragment(request, "orders-table")
    return await render(
        request,
        state,
        "_orders_table.html" if fragment else "orders.html",
        env=spec,
        login=login,
        status_code=panel_status(error, 422 if filters.errors else 200),
        filters=filters,
        page=page,
        backend_error=error,
        short=short_ids([str(o.id) for o in page.orders]) if page else {},
        notice=None if fragment else await notice_from(request, db, login, environment=spec.name),
    )


@router.get("/{env}/orders/export.csv", response_class=Response)
async def export_orders(request: Request, state: StateDep, access: EnvReaderDep) -> Response:
    """Every order the page's filters select (all pages, newest first) as CSV, streamed and audited."""
    login, spec = access
    filters = parse_order_filter(request.query_params, request.query_params.getlist("status"))
    if filters.query is None:
        raise BadRequest("; ".join(f"{k}: {v}" for k, v in filters.errors.items()))
    query = replace(filters.query, limit=EXPORT_PAGE, cursor=None)
    client = service.client_for(state, spec, web_actor(request, login))
    first = await client.list_orders(query)  # a backend that cannot answer is an error page, not a cut file
    return await audited_download(
        request,
        state,
        action="order.export",
        environment=spec.name,
        filters={k: v for k, v in query.params().items() if v and k not in ("limit", "cursor")},
        header=EXPORT_COLUMNS,
        rows=_order_rows(client, query, first),
        filename=f"raxx-orders-{spec.name}.csv",
    )


async def _order_rows(client: TradingClient, query: OrderQuery, page: OrderList) -> AsyncIterator[list[Any]]:
    """Rows of every page, following Raptor's keyset cursor: one page in memory at a time."""
    while True:
        for order in page.orders:
            row = order.model_dump(mode="json", include=set(EXPORT_COLUMNS))
            yield [row[c] for c in EXPORT_COLUMNS]
        if not page.next_cursor:
            return
        page = await client.list_orders(replace(query, cursor=page.next_cursor))


@router.get("/{env}/orders/new", response_class=HTMLResponse)
async def new_order_page(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    require_capability(login, spec.name, PLACE_ORDER.capability, action=PLACE_ORDER)
    defaults = {"side": "buy", "type": "market", "time_in_force": "day", "client_order_id": new_client_order_id()}
    prefill = {k: request.query_params.get(k, "") for k in ("symbol", "side", "quantity")}
    values = {**defaults, **{k: v for k, v in prefill.items() if v}}
    return await _order_form(request, state, login, spec, values=values, errors={})


async def _order_form(
    request: Request,
    state: ConsoleState,
    login: Login,
    spec: EnvironmentSpec,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    refusal: RaptorRefusal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return await render(
        request,
        state,
        "order_new.html",
        env=spec,
        login=login,
        status_code=status_code,
        values=values,
        errors=errors,
        refusal=refusal,
        confirms=spec.needs_confirmation(PLACE_ORDER),
    )


@router.post("/{env}/orders", response_class=HTMLResponse)
@audited_action(PLACE_ORDER, target_field="symbol")
async def place_order(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    login, spec = access
    act = await begin_mutation(request, state, db, access, PLACE_ORDER)
    parsed: OrderForm = parse_order_form(act.form)
    if parsed.order is None:
        return await _order_form(
            request, state, login, spec, values=parsed.values, errors=parsed.errors, status_code=422
        )
    if (confirm := await act.confirm(service.place_action(spec, parsed.order))) is not None:
        return confirm
    try:
        placed = await service.place(state, act.actor, spec, parsed.order)
    except RaptorRefusal as refusal:
        # Keep what the operator typed (with a fresh idempotency key) and say why, with the request id.
        note_refusal(request, refusal)
        values = {**parsed.values, "client_order_id": new_client_order_id()}
        return await _order_form(
            request, state, login, spec, values=values, errors={}, refusal=refusal, status_code=refusal.status_code
        )
    done = "rejected" if placed.order.status == "rejected" else ("placed" if placed.created else "replayed")
    return await act.see(f"/orders/{placed.order.id}", done)


@router.post("/{env}/orders/cancel-all", response_class=HTMLResponse)
@audited_action(CANCEL_ALL_ORDERS)
async def cancel_all_orders(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    act = await begin_mutation(request, state, db, access, CANCEL_ALL_ORDERS)
    if (confirm := await act.confirm(service.cancel_all_action(act.spec))) is not None:
        return confirm
    result = await service.cancel_all(state, act.actor, act.spec)
    notice = "canceled_some" if result.failed else "canceled_all"  # orders left open must not read as done
    return await act.see("/orders", notice, canceled=len(result.canceled), failed=len(result.failed))


@router.get("/{env}/orders/{order_id}", response_class=HTMLResponse)
async def order_page(order_id: str, request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    oid = _order_id(order_id)
    client = service.client_for(state, spec, web_actor(request, login))
    order, error = await backend_read(client.get_order(oid))
    if isinstance(error, RaptorRefusal) and error.status_code == 404:
        raise error  # an unknown order is a 404 page (with the banner), not a panel
    return await render(
        request,
        state,
        "order_detail.html",
        env=spec,
        login=login,
        status_code=panel_status(error),
        order=order,
        order_id=oid,
        backend_error=error,
        notice=await notice_from(request, db, login, environment=spec.name),
        can_trade=can(login.roles, spec.name, "trade"),
    )


@router.post("/{env}/orders/{order_id}/cancel", response_class=HTMLResponse)
@audited_action(CANCEL_ORDER, target_field="order_id", target_rule=canonical_order_id)
async def cancel_order(order_id: str, request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    act = await begin_mutation(request, state, db, access, CANCEL_ORDER)
    oid = _order_id(order_id)
    if (confirm := await act.confirm(service.cancel_action(act.spec, oid))) is not None:
        return confirm
    await service.cancel(state, act.actor, act.spec, oid)
    return await act.see(f"/orders/{oid}", "canceled")
