"""Positions and the account of one environment (read-only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from raxx.common.environments import EnvironmentSpec
from raxx.console.auth.service import Login
from raxx.console.deps import EnvReaderDep, StateDep, wants_fragment, web_actor
from raxx.console.operations import service
from raxx.console.pages.guard import backend_read, panel_status
from raxx.console.raptor.trading_api import TradingClient
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["portfolio"])


@router.get("/{env}/positions", response_class=HTMLResponse)
async def positions_page(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    fragment = wants_fragment(request, "positions-table")
    template = "_positions_table.html" if fragment else "positions.html"
    return await _read_page(request, state, access, template, "positions", lambda client: client.positions())


@router.get("/{env}/account", response_class=HTMLResponse)
async def account_page(request: Request, state: StateDep, access: EnvReaderDep) -> HTMLResponse:
    return await _read_page(request, state, access, "account.html", "account", lambda client: client.account())


async def _read_page(
    request: Request,
    state: ConsoleState,
    access: tuple[Login, EnvironmentSpec],
    template: str,
    name: str,
    read: Callable[[TradingClient], Awaitable[Any]],
) -> HTMLResponse:
    """A page of one read of Raptor, given to the template as ``name`` (an error panel if it fails)."""
    login, spec = access
    data, error = await backend_read(read(service.client_for(state, spec, web_actor(request, login))))
    return await render(
        request,
        state,
        template,
        env=spec,
        login=login,
        status_code=panel_status(error),
        backend_error=error,
        **{name: data},
    )
