"""The trading switch of one environment: its state, halt (a reason is required) and resume (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actions import HALT_TRADING, RESUME_TRADING
from raxx.common.environments import EnvironmentSpec
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth.service import Login
from raxx.console.deps import DbDep, EnvReaderDep, StateDep, wants_fragment, web_actor
from raxx.console.operations import service
from raxx.console.operations.forms import parse_reason
from raxx.console.pages.guard import audited_action, backend_read, begin_mutation, panel_status
from raxx.console.pages.notices import notice_from
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["trading"], route_class=AuditedRoute)


async def _trading_page(
    request: Request,
    state: ConsoleState,
    db: AsyncSession,
    login: Login,
    spec: EnvironmentSpec,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    client = service.client_for(state, spec, web_actor(request, login))
    trading, error = await backend_read(client.trading_state())
    fragment = wants_fragment(request, "trading-panel")
    return await render(
        request,
        state,
        "_trading_panel.html" if fragment else "trading.html",
        env=spec,
        login=login,
        status_code=status_code if status_code != 200 else panel_status(error),
        trading=trading,
        backend_error=error,
        values=values or {"reason": ""},
        errors=errors or {},
        notice=None if fragment else await notice_from(request, db, login, environment=spec.name),
        confirms_halt=spec.needs_confirmation(HALT_TRADING),
        confirms_resume=spec.needs_confirmation(RESUME_TRADING),
    )


@router.get("/{env}/trading", response_class=HTMLResponse)
async def trading_page(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    return await _trading_page(request, state, db, login, spec)


@router.post("/{env}/trading/halt", response_class=HTMLResponse)
@audited_action(HALT_TRADING)
async def halt(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    login, spec = access
    act = await begin_mutation(request, state, db, access, HALT_TRADING)
    parsed = parse_reason(act.form)
    if not parsed.ok:
        return await _trading_page(
            request, state, db, login, spec, values=parsed.values, errors=parsed.errors, status_code=422
        )
    reason = parsed.values["reason"]
    if (confirm := await act.confirm(service.halt_action(spec, reason))) is not None:
        return confirm
    halted = await service.halt(state, act.actor, spec, reason)
    return await act.see("/trading", "halted" if halted.changed else "already_halted")


@router.post("/{env}/trading/resume", response_class=HTMLResponse)
@audited_action(RESUME_TRADING)
async def resume(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    act = await begin_mutation(request, state, db, access, RESUME_TRADING)
    if (confirm := await act.confirm(service.resume_action(act.spec))) is not None:
        return confirm
    resumed = await service.resume(state, act.actor, act.spec)
    return await act.see("/trading", "resumed" if resumed.changed else "not_halted")
