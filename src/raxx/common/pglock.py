"""One holder at a time across processes: a PostgreSQL session-level advisory lock.

For work every instance of a deployable runs on a timer (each console process reconciles its
audit trail) but that must not run twice at once: the lock is held on a dedicated connection
in autocommit (idle between statements, never "idle in transaction"), and PostgreSQL drops it
when that connection ends, so a process that dies never leaves it held.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: How often a waiting holder asks again (``pg_try_advisory_lock`` never blocks a connection).
POLL_S = 0.25


def lock_key(name: str) -> int:
    """The advisory key of ``name``: a stable 31-bit number (the same in every process)."""
    return zlib.crc32(f"raxx.lock:{name}".encode()) & 0x7FFFFFFF


@asynccontextmanager
async def held(engine: AsyncEngine, name: str, *, wait_s: float = 0.0) -> AsyncIterator[bool]:
    """Hold the lock ``name`` for the block: yields True when this process holds it, False
    when another held it for ``wait_s`` seconds (0: ask once). Released when the block ends."""
    key = {"k": lock_key(name)}
    async with engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + wait_s
        acquired = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), key))
        while not acquired and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            acquired = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), key))
        try:
            yield acquired
        finally:
            if acquired:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
