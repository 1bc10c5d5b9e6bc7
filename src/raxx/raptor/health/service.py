"""Readiness and identity: what a deployment says about itself."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from raxx.common.contracts.service import Identity, Readiness, ReadyCheck
from raxx.common.db import database_fingerprint
from raxx.common.migrations import current_heads
from raxx.raptor.state import RaptorState

READY_TIMEOUT_S = 3.0


async def check_readiness(state: RaptorState) -> Readiness:
    checks: list[ReadyCheck] = []
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), state.db.statements() as conn:
            await conn.execute(text("SELECT 1"))
            checks.append(ReadyCheck(name="database", ok=True))
            heads = await conn.run_sync(current_heads)
            at_head = heads == state.migration_heads
            checks.append(
                ReadyCheck(
                    name="migrations",
                    ok=at_head,
                    detail=None
                    if at_head
                    else f"database at {sorted(heads) or 'nothing'}, code expects {sorted(state.migration_heads)}",
                )
            )
    except Exception as exc:  # any failure to reach the database means not ready
        checks.append(ReadyCheck(name="database", ok=False, detail=f"database unreachable: {type(exc).__name__}"))
        checks.append(ReadyCheck(name="migrations", ok=False, detail="unknown: database unreachable"))
    for extra in state.extra_ready_checks:
        checks.append(await extra())
    reasons = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    return Readiness(
        ready=not reasons,
        environment=state.settings.environment,
        release=state.settings.release,
        reasons=reasons,
        checks=checks,
    )


async def identity(state: RaptorState) -> Identity:
    if state.database_fingerprint is None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S), state.db.statements() as conn:
                state.database_fingerprint = await database_fingerprint(conn)
        except Exception:  # identity must answer even when the database does not
            state.database_fingerprint = None
    broker = state.broker_identity() if state.broker_identity else {}
    return Identity(
        environment=state.settings.environment,
        release=state.settings.release,
        database=state.database_fingerprint or "unknown",
        started_at=state.started_at,
        **broker,
    )
