"""The root redirect, each environment's overview and health page, and the console's own health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import text

from raxx.console.auth.roles import can
from raxx.console.deps import EnvReaderDep, OptionalLoginDep, StateDep, wants_fragment, web_actor
from raxx.console.health_history import HEIGHT, WIDTH, read_history
from raxx.console.operations import service as trading
from raxx.console.overview import read_overview
from raxx.console.pages.releases import duration, read_board
from raxx.console.raptor.errors import BackendUnavailable
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["pages"])


@router.get("/", include_in_schema=False)
async def root(login: OptionalLoginDep) -> Response:
    if login is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(f"/{login.current_env}/", status_code=303)


# The probes answer HEAD too (outside the OpenAPI document): uptime checkers often ask with
# it, and a 405 reads as "down".
@router.get("/healthz", tags=["system"])
@router.head("/healthz", include_in_schema=False)
async def healthz(state: StateDep) -> dict[str, str]:
    """Liveness of the console process, with its release (the gate's smoke check reads it)."""
    return {"status": "ok", "service": "console", "release": state.settings.release}


async def _database_ok(state: ConsoleState) -> bool:
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/readyz", tags=["system"])
@router.head("/readyz", include_in_schema=False)
async def readyz(state: StateDep) -> JSONResponse:
    ok = await _database_ok(state)
    body: dict[str, Any] = {
        "ready": ok,
        "service": "console",
        "release": state.settings.release,
        "reasons": [] if ok else ["database: unreachable"],
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/{env}/", response_class=HTMLResponse)
async def overview(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    client = trading.client_for(state, spec, web_actor(request, login))
    panels = await read_overview(state, spec, client, may_audit=can(login.roles, spec.name, "audit"))
    fragment = wants_fragment(request, "overview-panels")
    return await render(
        request,
        state,
        "_overview_panels.html" if fragment else "home.html",
        env=spec,
        login=login,
        overview=panels,
        duration=duration,
        now=datetime.now(UTC),
    )


@router.get("/{env}/health", response_class=HTMLResponse)
async def health(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    client = state.clients[spec.name]
    fragment = wants_fragment(request, "health-panel")
    # Opening the page asks the backend afresh; its live refresh accepts an answer one period old.
    if fragment:
        await client.check_identity(max_age_s=max(state.settings.orders_refresh_s, 1.0))
    else:
        await client.check_identity(force=True)
    ready: Any = None
    ready_status: int | None = None
    ready_error: str | None = None
    try:
        ready_status, ready = await client.readiness()
        if not isinstance(ready, dict) or "checks" not in ready:
            ready_error = f"unexpected answer (HTTP {ready_status})"
    except BackendUnavailable as exc:
        ready_error = str(exc.detail)
    return await render(
        request,
        state,
        "_health_panel.html" if fragment else "health.html",
        env=spec,
        login=login,
        ready=ready,
        ready_status=ready_status,
        ready_error=ready_error,
        console_health={"status": "ok", "release": state.settings.release},
        console_db_ok=await _database_ok(state),
        **await _histories(state, spec.name),
    )


#: The Health page's two windows: (span, buckets).
WINDOWS = ((timedelta(hours=24), 96), (timedelta(days=7), 168))


async def _histories(state: ConsoleState, environment: str) -> dict[str, Any]:
    """Per deployment of the environment (from the ledger's board): its history over each window
    and its soak toward the next environment."""
    board, problem = await read_board(state)
    deployments = [d for d in board.deployments if d.environment == environment] if board else []
    now = datetime.now(UTC)
    histories = [
        (
            d,
            [
                await read_history(
                    state, service=d.service, app=d.app, environment=environment, end=now, window=w, buckets=n
                )
                for w, n in WINDOWS
            ],
        )
        for d in deployments
    ]
    chart = {"width": WIDTH, "height": HEIGHT}
    return {"histories": histories, "history_problem": problem, "chart": chart, "duration": duration}


@router.get("/{env}", include_in_schema=False)
async def env_without_slash(env: str, state: StateDep) -> Response:
    state.registry[env]  # unknown environments get the 404 page with its banner
    return RedirectResponse(f"/{env}/", status_code=307)
