"""``/releases``: what runs where, the soak toward prod and what blocks it, read-only.

The release gate writes its board into its ledger; the console only reads it, through the
ledger's view ``release_board_v1`` (``raxx.common.contracts.board.RELEASE_BOARD_VIEW``, a
``ReleaseBoard`` as JSON), with its own read-only connection (``CONSOLE_LEDGER_DATABASE_URL``).
Like ``/compare`` this page is about every environment at once, so its banner names all of them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import text

from raxx.common.contracts.board import RELEASE_BOARD_VIEW, BoardHealthPoint, ReleaseBoard
from raxx.common.logging import log_event
from raxx.console import release_requests
from raxx.console.auth.roles import can
from raxx.console.deps import LoginDep, StateDep, wants_fragment
from raxx.console.ledger import ledger_engine as ledger_engine  # re-exported: the alerts page reads it here
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["releases"])
log = logging.getLogger("raxx.console.releases")
LEDGER_TIMEOUT_S = 3.0
BOARD_QUERY = text(RELEASE_BOARD_VIEW.select())


async def read_board(state: ConsoleState) -> tuple[ReleaseBoard | None, str | None]:
    """The board, or None with a sentence saying why it cannot be shown."""
    engine = ledger_engine(state)
    if engine is None:
        return None, "The release ledger is not configured for this console (CONSOLE_LEDGER_DATABASE_URL)."
    try:
        async with asyncio.timeout(LEDGER_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            row = (await conn.execute(BOARD_QUERY)).first()
    except Exception as exc:  # any failure to read the ledger is shown, never a 500
        log_event(log, "console.releases.read.failed", level=logging.WARNING, error=type(exc).__name__)
        return None, f"The release ledger could not be read ({type(exc).__name__}); nothing else is affected."
    if row is None:
        return None, "The gate has not written a release board yet (the monitor writes it every round)."
    try:
        return ReleaseBoard.model_validate(row.body), None
    except ValidationError:
        return None, "The release board in the ledger has an unexpected shape; is the gate newer than this console?"


def sparkline(points: list[BoardHealthPoint], *, width: int = 240, height: int = 28) -> list[dict[str, Any]]:
    """Bars for an inline SVG: one per bucket, height = success rate, empty buckets marked as gaps."""
    if not points:
        return []
    step = width / len(points)
    bars = []
    for i, point in enumerate(points):
        rate = point.ok / point.samples if point.samples else None
        bar_height = max(2.0, height * rate) if rate is not None else height
        bars.append(
            {
                "x": round(i * step, 2),
                "width": round(max(step - 1, 1), 2),
                "y": round(height - bar_height, 2),
                "height": round(bar_height, 2),
                "kind": "gap" if rate is None else ("ok" if rate >= 0.995 else "bad"),
                "title": f"{point.start:%d %b %H:%M}: "
                + ("no samples" if rate is None else f"{point.ok}/{point.samples} ok"),
            }
        )
    return bars


#: The monitor rewrites the board every round (30 s); older than this, it may no longer say what runs.
BOARD_STALE_AFTER_S = 300


def board_age(board: ReleaseBoard) -> tuple[str, bool]:
    """How long ago the monitor wrote ``board``, in words, and whether it is too old to trust
    (the releases page and the Overview's release panel both say so)."""
    age = (datetime.now(UTC) - board.generated_at).total_seconds()
    return duration(int(age)), age > BOARD_STALE_AFTER_S


def duration(seconds: int) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    if hours >= 48:
        return f"{hours // 24} d {hours % 24} h"
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


@router.get("/releases", response_class=HTMLResponse)
async def releases_page(
    request: Request,
    state: StateDep,
    login: LoginDep,
    asked: Annotated[uuid.UUID | None, Query(alias="request")] = None,
) -> HTMLResponse:
    board, problem = await read_board(state)
    age, stale = board_age(board) if board else (None, False)
    return await render(
        request,
        state,
        "_release_board.html" if wants_fragment(request, "release-board") else "releases.html",
        env=None,
        login=login,
        cross_env="releases",
        board=board,
        problem=problem,
        board_age=age,
        stale=stale,
        sparkline=sparkline,
        duration=duration,
        known_envs=set(state.registry),
        can=can,
        asked=await release_requests.outcome(state, asked) if asked else None,
        history=await release_requests.recent(state),
    )
