"""SQL for the trading switch (one row) and its history."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from raxx.raptor.models.trading import TradingEvent, TradingState

STATE = cast(Table, TradingState.__table__)
EVENTS = cast(Table, TradingEvent.__table__)


async def current(session: AsyncSession | AsyncConnection, *, for_update: bool = False) -> RowMapping:
    stmt = select(STATE).where(STATE.c.id == 1)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).mappings().one()


async def switch(
    session: AsyncSession, *, halted: bool, reason: str | None, actor: str | None, token_id: str, request_id: str
) -> RowMapping:
    stmt = (
        update(STATE)
        .where(STATE.c.id == 1)
        .values(
            halted=halted, reason=reason, changed_at=func.now(), actor=actor, token_id=token_id, request_id=request_id
        )
        .returning(*STATE.columns)
    )
    return (await session.execute(stmt)).mappings().one()


async def append_event(
    session: AsyncSession, *, action: str, reason: str | None, actor: str | None, token_id: str, request_id: str
) -> None:
    await session.execute(
        EVENTS.insert().values(action=action, reason=reason, actor=actor, token_id=token_id, request_id=request_id)
    )
