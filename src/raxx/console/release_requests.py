"""Release actions from the console: written to the gate's ledger, carried out by the gate.

The console may not import the gate (separate deployables, import-linter) and holds no
platform credential. It writes what a release owner asked for into the ledger's view
``release_request_v1`` (``raxx.common.contracts.release_requests.RELEASE_REQUEST_VIEW``; the
gate's request runner, ``raxx.gate.requests``, claims the rows behind it) and waits a
bounded time for the gate's outcome: done, or refused with the gate's own code and words
(the same functions as ``raxx gate approve|promote|rollback`` decided it).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text

from raxx.common.contracts.release_requests import RELEASE_REQUEST_VIEW as VIEW
from raxx.common.errors import Unavailable
from raxx.console.ledger import ledger_engine
from raxx.console.state import ConsoleState

ReleaseAction = Literal["approve", "promote", "rollback"]
#: How long a request waits for the gate before answering "queued" (under the router's 30 s).
WAIT_S = 20.0
POLL_S = 0.25

# The view's name is a constant (raxx.common.contracts), never input: hence the noqa.
_INSERT = text(
    f"INSERT INTO {VIEW.name} (id, action, app, environment, release_id, actor, note, via, via_request_id,"  # noqa: S608
    " requested_at, status) VALUES (:id, :action, :app, :environment, :release_id, :actor, :note, 'console',"
    " :via_request_id, now(), 'pending')"
)
_ONE = text(f"SELECT status, code, detail, exit_code FROM {VIEW.name} WHERE id = :id")  # noqa: S608
_RECENT = text(
    "SELECT id, action, app, environment, release_id, actor, requested_at, status, code, detail"  # noqa: S608
    f" FROM {VIEW.name} ORDER BY requested_at DESC LIMIT :limit"
)


@dataclass(frozen=True)
class RequestOutcome:
    """``pending``/``running`` when the gate had not finished within the wait."""

    request_id: uuid.UUID
    status: str
    code: str | None
    detail: str | None


def _engine(state: ConsoleState) -> Any:
    engine = ledger_engine(state)
    if engine is None:
        raise Unavailable("the release ledger is not configured for this console (CONSOLE_LEDGER_DATABASE_URL)")
    return engine


async def ask(
    state: ConsoleState,
    *,
    action: ReleaseAction,
    app: str,
    environment: str,
    release_id: str | None,
    actor: str,
    note: str | None,
    via_request_id: str | None,
    wait_s: float = WAIT_S,
) -> RequestOutcome:
    """Write the request, then wait up to ``wait_s`` for the gate to carry it out."""
    engine = _engine(state)
    request_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            _INSERT,
            {
                "id": request_id,
                "action": action,
                "app": app,
                "environment": environment,
                "release_id": release_id,
                "actor": actor,
                "note": note,
                "via_request_id": via_request_id,
            },
        )
    deadline = time.monotonic() + wait_s
    while True:
        async with engine.connect() as conn:
            row = (await conn.execute(_ONE, {"id": request_id})).one()
        if row.status not in ("pending", "running") or time.monotonic() >= deadline:
            return RequestOutcome(request_id, row.status, row.code, row.detail)
        await asyncio.sleep(POLL_S)


async def outcome(state: ConsoleState, request_id: uuid.UUID) -> RequestOutcome | None:
    """Where one request stands now (None when unknown or the ledger cannot be read)."""
    engine = ledger_engine(state)
    if engine is None:
        return None
    try:
        async with asyncio.timeout(3.0), engine.connect() as conn:
            row = (await conn.execute(_ONE, {"id": request_id})).first()
    except Exception:
        return None
    return RequestOutcome(request_id, row.status, row.code, row.detail) if row else None


async def recent(state: ConsoleState, *, limit: int = 10) -> list[Any]:
    """The latest requests, newest first (empty when the ledger cannot be read)."""
    engine = ledger_engine(state)
    if engine is None:
        return []
    try:
        async with asyncio.timeout(3.0), engine.connect() as conn:
            return list((await conn.execute(_RECENT, {"limit": limit})).all())
    except Exception:  # the page shows the board's own problem; the history is a nicety
        return []
