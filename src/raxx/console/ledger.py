"""The console's connection to the release gate's ledger (``CONSOLE_LEDGER_DATABASE_URL``).

The console reads the gate's board and health history from it and writes only release
requests into it (``raxx.console.release_requests``; the gate carries them out), always
through the ledger's contract views (``raxx.common.contracts``), never its tables.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.db import create_engine
from raxx.console.state import ConsoleState

_ENGINE_KEY = "ledger_engine"


def ledger_engine(state: ConsoleState) -> AsyncEngine | None:
    """One small pool to the ledger, made on first use (None when no ledger is configured)."""
    url = state.settings.ledger_database_url
    if not url:
        return None
    engine = state.extras.get(_ENGINE_KEY)
    pools = state.settings.ledger_pools()
    if engine is None and pools is not None:
        engine = create_engine(url, application_name="console-releases", pool_size=pools["ledger"])
        state.extras[_ENGINE_KEY] = engine
    return engine  # type: ignore[no-any-return,unused-ignore]
