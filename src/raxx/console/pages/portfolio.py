"""Positions and the account of one environment (read-only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from raxx.console.deps import EnvReaderDep, StateDep, wants_fragment, web_actor
from raxx.console.operations import service
from raxx.console.pages.guard import backend_read, panel_status
from raxx.console.templating import render

router = APIRouter(tags=["portfolio"])


@router.get("/{env}/positions", response_class=HTMLResponse)
async def positions_page(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    client = service.client_for(state, spec, web_actor(request, login))
    positions, error = await backend_read(client.positions())
    return await render(
        request,
        state,
        "_positions_table.html" if wants_fragment(request, "positions-table") else "positions.html",
        env=spec,
        login=login,
        status_code=panel_status(error),
        positions=positions,
        backend_error=error,
    )


@router.get("/{env}/account", response_class=HTMLResponse)
async def account_page(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    client = service.client_for(state, spec, web_actor(request, login))
    account, error = await backend_read(client.account())
    return await render(
        request,
        state,
        "account.html",
        env=spec,
        login=login,
        status_code=panel_status(error),
        account=account,
        backend_error=error,
    )
