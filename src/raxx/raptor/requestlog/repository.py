"""SQL for the request log: which mutation a request id performed."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from raxx.raptor.models.request_log import RequestRecord

REQUESTS = cast(Table, RequestRecord.__table__)


async def record(
    session: AsyncSession | AsyncConnection,
    *,
    request_id: str,
    action: str,
    target: str | None,
    token_id: str,
    actor: str | None,
) -> None:
    """Remember what this request id did, in the mutation's own transaction; the first record wins."""
    await session.execute(
        pg_insert(REQUESTS)
        .values(request_id=request_id, action=action, target=target, token_id=token_id, actor=actor)
        .on_conflict_do_nothing(index_elements=["request_id"])
    )


async def find(session: AsyncSession, request_id: str) -> RowMapping | None:
    return (await session.execute(select(REQUESTS).where(REQUESTS.c.request_id == request_id))).mappings().first()
