"""``/alerts``: every alert still open, then the last ones raised, and what became of each
delivery, read-only.

Two outboxes (``raxx.common.alerts``): the console database's (alerts the console and
``raxx audit verify`` raised) and the ledger's (the gate's and the monitor's), read
through the same read-only ledger connection as ``/releases``. Like ``/compare`` this
page is about every environment at once, so its banner names all of them; each alert
names its own environment, and is listed only to those who hold a role there.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from raxx.common.alerts import AlertRow, environment_words, recent_alerts
from raxx.common.logging import log_event
from raxx.console.deps import LoginDep, StateDep
from raxx.console.pages.releases import LEDGER_TIMEOUT_S, ledger_engine
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["alerts"])
log = logging.getLogger("raxx.console.alerts")
LIMIT = 50


async def _ledger_alerts(state: ConsoleState) -> tuple[list[AlertRow], str | None]:
    engine = ledger_engine(state)
    if engine is None:
        return (
            [],
            "The gate's alerts are in its ledger, which this console does not read (CONSOLE_LEDGER_DATABASE_URL).",
        )
    try:
        async with asyncio.timeout(LEDGER_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            return await recent_alerts(conn, limit=LIMIT), None
    except Exception as exc:  # the console's own alerts are shown either way
        log_event(log, "console.alerts.ledger.failed", level=logging.WARNING, error=type(exc).__name__)
        return [], f"The gate's alerts could not be read from its ledger ({type(exc).__name__})."


@router.get("/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, state: StateDep, login: LoginDep) -> HTMLResponse:
    async with state.engine.connect() as conn:
        mine = await recent_alerts(conn, limit=LIMIT)
    gate, problem = await _ledger_alerts(state)
    # An environment's alerts are shown to those who hold a role there; system-wide ones to all.
    visible = [a for a in (*mine, *gate) if a.environment is None or a.environment in login.roles]
    # Open alerts first, all of them; then the newest others, up to LIMIT in all.
    still_open = sorted((a for a in visible if a.state == "triggered"), key=lambda a: a.last_seen, reverse=True)
    others = sorted((a for a in visible if a.state != "triggered"), key=lambda a: a.last_seen, reverse=True)
    rows = still_open + others[: max(0, LIMIT - len(still_open))]
    return await render(
        request,
        state,
        "alerts.html",
        env=None,
        login=login,
        cross_env="alerts",
        alerts=rows,
        problem=problem,
        words=environment_words,
        known_envs=set(state.registry),
    )
