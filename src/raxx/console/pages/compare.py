"""``/compare``: every environment side by side, read-only, to see in one glance what differs.

Not an environment page: its banner says it compares all of them (with each one's
color), it has no forms, and each column is fetched independently, so a dead staging
shows as a red column while prod's column is complete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from raxx.common.contracts.trading import OPEN_STATUSES
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.console.actions import Actor
from raxx.console.auth.roles import can
from raxx.console.deps import LoginDep, StateDep, web_actor
from raxx.console.operations import service
from raxx.console.pages.guard import BACKEND_FAILURES
from raxx.console.raptor.trading_api import OrderQuery
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["compare"])
COUNT_LIMIT = 500


@dataclass
class Column:
    """What one environment says about itself; ``errors`` holds a message per row that failed."""

    spec: EnvironmentSpec
    allowed: bool
    identity_state: str = "unknown"
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    fetched_ms: float | None = None


ROWS: tuple[tuple[str, str], ...] = (
    ("identity", "Identity check"),
    ("backend_env", "Backend says it is"),
    ("release", "Raptor release"),
    ("database", "Database"),
    ("broker_account", "Broker account"),
    ("ready", "Readiness"),
    ("halted", "Trading"),
    ("open_orders", "Open orders"),
    ("positions", "Positions"),
    ("identity_latency", "Identity check latency"),
    ("fetched_ms", "This column took"),
)
#: Rows whose values are *expected* to differ between environments (not highlighted).
EXPECTED_DIFFERENT = {"backend_env", "database", "broker_account", "identity_latency", "fetched_ms"}


async def _guarded(column: Column, key: str, work: Any) -> None:
    try:
        column.values[key] = await work
    except BACKEND_FAILURES as exc:
        column.errors[key] = str(exc.detail)
    except RaxxError as exc:  # any other refusal stays inside its cell
        column.errors[key] = f"{exc.code}: {exc.detail}"


async def _count_open(state: ConsoleState, spec: EnvironmentSpec, actor: Actor) -> str:
    page = await service.client_for(state, spec, actor).list_orders(
        OrderQuery(statuses=OPEN_STATUSES, limit=COUNT_LIMIT)
    )
    return f"{COUNT_LIMIT}+" if page.next_cursor else str(len(page.orders))


async def _positions(state: ConsoleState, spec: EnvironmentSpec, actor: Actor) -> str:
    return str(len((await service.client_for(state, spec, actor).positions()).positions))


async def _halted(state: ConsoleState, spec: EnvironmentSpec, actor: Actor) -> str:
    trading = await service.client_for(state, spec, actor).trading_state()
    return f"HALTED: {trading.reason}" if trading.halted else "active"


async def _ready(state: ConsoleState, spec: EnvironmentSpec) -> str:
    status, body = await state.clients[spec.name].readiness()
    if isinstance(body, dict) and body.get("ready") is True:
        return "ready"
    reasons = body.get("reasons") if isinstance(body, dict) else None
    return f"NOT READY (HTTP {status})" + (f": {'; '.join(map(str, reasons))}" if reasons else "")


async def _column(state: ConsoleState, spec: EnvironmentSpec, actor: Actor) -> Column:
    started = time.monotonic()
    column = Column(spec=spec, allowed=can(dict(actor.roles), spec.name, "read"))
    if not column.allowed:
        return column
    status = await state.clients[spec.name].check_identity(force=True)
    column.identity_state = status.state
    column.values["identity"] = (
        status.state.upper() + (f": {status.error}" if status.error else "") + f" ({status.age_text})"
    )
    if status.identity is not None:
        column.values["backend_env"] = status.identity.environment
        column.values["release"] = status.identity.release
        column.values["database"] = status.identity.database
        money = "paper" if status.identity.paper else "LIVE MONEY"
        broker = status.identity.broker or "unknown broker"
        column.values["broker_account"] = f"{status.identity.broker_account_id} ({broker}, {money})"
    if status.latency_ms is not None:
        column.values["identity_latency"] = f"{status.latency_ms:.1f} ms"
    reads = [_guarded(column, "ready", _ready(state, spec))]
    if status.ok:
        reads += [
            _guarded(column, "halted", _halted(state, spec, actor)),
            _guarded(column, "open_orders", _count_open(state, spec, actor)),
            _guarded(column, "positions", _positions(state, spec, actor)),
        ]
    else:
        for key in ("halted", "open_orders", "positions"):
            column.errors[key] = "not asked: the backend's identity is not verified"
    await asyncio.gather(*reads)
    column.fetched_ms = (time.monotonic() - started) * 1000
    column.values["fetched_ms"] = f"{column.fetched_ms:.0f} ms"
    return column


def _differs(columns: list[Column]) -> set[str]:
    """Rows where the environments that answered disagree (and are expected to agree)."""
    differing = set()
    for key, _ in ROWS:
        if key in EXPECTED_DIFFERENT:
            continue
        seen = {str(c.values.get(key, c.errors.get(key, "-"))) for c in columns if c.allowed}
        if len(seen) > 1:
            differing.add(key)
    return differing


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request, state: StateDep, login: LoginDep) -> HTMLResponse:
    actor = web_actor(request, login)
    columns = list(await asyncio.gather(*(_column(state, spec, actor) for spec in state.registry.values())))
    return await render(
        request,
        state,
        "compare.html",
        env=None,
        login=login,
        cross_env="compare",
        columns=columns,
        rows=ROWS,
        differs=_differs(columns),
    )
