"""Named dependencies: ``StateDep``, ``SessionDep``, ``SettingsDep``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.raptor.config import RaptorSettings
from raxx.raptor.state import RaptorState


def get_state(request: Request) -> RaptorState:
    return request.app.state.raptor  # type: ignore[no-any-return]


StateDep = Annotated[RaptorState, Depends(get_state)]


def get_settings(request: Request) -> RaptorSettings:
    return get_state(request).settings


SettingsDep = Annotated[RaptorSettings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit on success, roll back on any error."""
    async with get_state(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session)]
