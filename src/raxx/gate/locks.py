"""The deploy lock: one deploy per app and environment at a time, held in PostgreSQL.

A session-level advisory lock on a dedicated connection: it is released when the
deploy ends or its process dies, so a crash never leaves a stale lock. The holder row
in ``deploy_lock`` tells people who holds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from raxx.common.errors import Conflict
from raxx.gate.context import GateContext
from raxx.gate.ledger.repository import LockRepository


class DeployLocked(Conflict):
    code = "deploy_locked"
    exit_code = 3


@asynccontextmanager
async def deploy_lock(
    ctx: GateContext, app: str, environment: str, *, holder: str, purpose: str
) -> AsyncIterator[None]:
    async with ctx.engine.connect() as raw:
        conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
        async with ctx.sessions() as session:
            locks = LockRepository(session)
            if not await locks.try_acquire(conn, app, environment):
                current = await locks.holder(app, environment)
                who = f"{current.holder} ({current.purpose})" if current else "another process"
                raise DeployLocked(f"{app}-{environment} is being deployed by {who}; try again when it finishes")
            await locks.record_holder(app, environment, holder=holder, purpose=purpose, at=ctx.clock.now())
            await session.commit()
        try:
            yield
        finally:
            async with ctx.sessions() as session:
                await LockRepository(session).clear_holder(app, environment)
                await session.commit()
            await LockRepository.release_on(conn, app, environment)
