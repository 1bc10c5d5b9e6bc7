"""SQL for personal API tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from raxx.console.apitoken.models import ApiToken
from raxx.console.auth.models import User, UserRole

#: ``last_used_at`` is written at most this often per token (it is informational).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenOwner:
    """A token with its user and the user's current roles: everything a request needs."""

    token_id: str
    secret_hash: str
    expires_at: datetime | None
    revoked_at: datetime | None
    user_id: uuid.UUID
    user_name: str
    user_disabled: bool
    #: The user's roles, only in the token's environments (its scope).
    roles: dict[str, str]
    environments: tuple[str, ...] = ()


async def owner_of(conn: AsyncConnection, token_id: str) -> TokenOwner | None:
    row = (
        await conn.execute(
            select(
                ApiToken.token_id,
                ApiToken.secret_hash,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                User.id,
                User.name,
                User.disabled_at,
                ApiToken.environments,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_id == token_id)
        )
    ).first()
    if row is None:
        return None
    roles = await conn.execute(select(UserRole.environment, UserRole.role).where(UserRole.user_id == row[4]))
    return TokenOwner(
        token_id=row[0],
        secret_hash=row[1],
        expires_at=row[2],
        revoked_at=row[3],
        user_id=row[4],
        user_name=row[5],
        user_disabled=row[6] is not None,
        roles={env: role for env, role in roles.all() if env in row[7]},
        environments=tuple(row[7]),
    )


async def touch(conn: AsyncConnection, token_id: str, now: datetime) -> None:
    await conn.execute(
        update(ApiToken)
        .where(ApiToken.token_id == token_id)
        .where((ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - TOUCH_EVERY))
        .values(last_used_at=now)
    )


async def insert(
    db: AsyncSession,
    *,
    token_id: str,
    user_id: uuid.UUID,
    name: str,
    secret_hash: str,
    expires_at: datetime | None,
    environments: list[str],
) -> ApiToken:
    token = ApiToken(
        token_id=token_id,
        user_id=user_id,
        name=name,
        secret_hash=secret_hash,
        expires_at=expires_at,
        environments=environments,
    )
    db.add(token)
    await db.flush()
    return token


async def of_user(db: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    rows = await db.execute(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc()))
    return list(rows.scalars())


async def all_with_users(db: AsyncSession) -> list[tuple[ApiToken, str]]:
    rows = await db.execute(
        select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.created_at.desc())
    )
    return [(token, name) for token, name in rows.all()]


async def revoke(
    db: AsyncSession, token_id: str, *, now: datetime, user_id: uuid.UUID | None = None
) -> tuple[str, ...] | None:
    """Revoke a live token (of ``user_id`` when given): the environments it acted in, or None
    when there is no such live token."""
    stmt = update(ApiToken).where(ApiToken.token_id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    row = (await db.execute(stmt.returning(ApiToken.environments))).first()
    return None if row is None else tuple(row[0])


async def environments_of(db: AsyncSession, token_id: str) -> tuple[str, ...]:
    """The environments a token acts in (none when there is no such token)."""
    found = (await db.execute(select(ApiToken.environments).where(ApiToken.token_id == token_id))).first()
    return () if found is None else tuple(found[0])
