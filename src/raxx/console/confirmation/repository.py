"""SQL for used confirmations."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.console.confirmation.models import UsedConfirmation

#: Used nonces are kept this long past their expiry, then purged.
KEEP_AFTER_EXPIRY = timedelta(hours=1)


async def use_nonce(db: AsyncSession, *, nonce: str, action: str, environment: str, expires_at: datetime) -> bool:
    """Mark ``nonce`` used; False when it already was (a concurrent duplicate waits, then gets False)."""
    stmt = (
        insert(UsedConfirmation)
        .values(nonce=nonce, action=action, environment=environment, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[UsedConfirmation.nonce])
        .returning(UsedConfirmation.nonce)
    )
    return (await db.execute(stmt)).scalar_one_or_none() is not None


async def purge_expired(db: AsyncSession, *, now: datetime) -> None:
    await db.execute(delete(UsedConfirmation).where(UsedConfirmation.expires_at < now - KEEP_AFTER_EXPIRY))
