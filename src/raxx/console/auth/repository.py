"""SQL for operators, roles, sessions and login attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.console.auth.models import Flash, LoginAttempt, OidcFlow, Session, User, UserRole


async def user_by_name(db: AsyncSession, name: str) -> User | None:
    return (await db.execute(select(User).where(User.name == name))).scalar_one_or_none()


async def user_names(db: AsyncSession) -> list[str]:
    return list((await db.execute(select(User.name))).scalars())


async def upsert_role(db: AsyncSession, user_id: uuid.UUID, environment: str, role: str) -> None:
    stmt = insert(UserRole).values(user_id=user_id, environment=environment, role=role)
    stmt = stmt.on_conflict_do_update(
        index_elements=[UserRole.user_id, UserRole.environment], set_={"role": role, "granted_at": func.now()}
    )
    await db.execute(stmt)


async def delete_role(db: AsyncSession, user_id: uuid.UUID, environment: str) -> int:
    result = await db.execute(delete(UserRole).where(UserRole.user_id == user_id, UserRole.environment == environment))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def session_actor(db: AsyncSession, id_hash: str) -> tuple[uuid.UUID, str, str] | None:
    """The user id and name behind a session and the environment it has selected (one row)."""
    row = (
        await db.execute(
            select(User.id, User.name, Session.current_env)
            .join(User, User.id == Session.user_id)
            .where(Session.id_hash == id_hash)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def session_user_roles(db: AsyncSession, id_hash: str) -> tuple[Session, User, dict[str, str]] | None:
    """A session, its user and the user's roles per environment, in one round trip (every page asks)."""
    roles = (
        select(func.coalesce(func.json_object_agg(UserRole.environment, UserRole.role), literal_column("'{}'::json")))
        .where(UserRole.user_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    row = (
        await db.execute(
            select(Session, User, roles).join(User, User.id == Session.user_id).where(Session.id_hash == id_hash)
        )
    ).first()
    return (row[0], row[1], dict(row[2])) if row else None


async def touch_session(db: AsyncSession, id_hash: str, when: datetime) -> None:
    await db.execute(update(Session).where(Session.id_hash == id_hash).values(last_seen_at=when))


async def set_session_env(db: AsyncSession, id_hash: str, environment: str) -> None:
    await db.execute(update(Session).where(Session.id_hash == id_hash).values(current_env=environment))


async def revoke_session(db: AsyncSession, id_hash: str, when: datetime) -> None:
    await db.execute(
        update(Session).where(Session.id_hash == id_hash, Session.revoked_at.is_(None)).values(revoked_at=when)
    )


async def revoke_user_sessions(db: AsyncSession, user_id: uuid.UUID, when: datetime) -> None:
    await db.execute(
        update(Session).where(Session.user_id == user_id, Session.revoked_at.is_(None)).values(revoked_at=when)
    )


async def recent_failures(db: AsyncSession, *, username: str, client_ip: str, since: datetime) -> tuple[int, int]:
    """Failed logins since ``since``: (for this user name, from this address)."""
    by_name = select(func.count()).where(
        LoginAttempt.username == username, LoginAttempt.ok.is_(False), LoginAttempt.attempted_at >= since
    )
    by_ip = select(func.count()).where(
        LoginAttempt.client_ip == client_ip, LoginAttempt.ok.is_(False), LoginAttempt.attempted_at >= since
    )
    return int((await db.execute(by_name)).scalar_one()), int((await db.execute(by_ip)).scalar_one())


async def add_attempt(db: AsyncSession, *, username: str, client_ip: str, ok: bool) -> None:
    db.add(LoginAttempt(username=username[:64], client_ip=client_ip[:64], ok=ok))
    await db.flush()


async def users_with_role_in(db: AsyncSession, environment: str) -> list[tuple[User, str | None]]:
    """Every user, with the role held in ``environment`` (None: no access there)."""
    rows = await db.execute(
        select(User, UserRole.role)
        .outerjoin(UserRole, (UserRole.user_id == User.id) & (UserRole.environment == environment))
        .order_by(User.name)
    )
    return [(user, role) for user, role in rows.all()]


async def add_flash(
    db: AsyncSession,
    *,
    session_hash: str,
    request_id: str,
    environment: str | None,
    key: str,
    counts: dict[str, int],
    stale_before: datetime,
) -> None:
    """Keep a notice for the session's next page; forget its notices nobody came to see."""
    await db.execute(delete(Flash).where(Flash.session_hash == session_hash, Flash.created_at < stale_before))
    stmt = insert(Flash).values(
        session_hash=session_hash, request_id=request_id, environment=environment, key=key, counts=counts
    )
    await db.execute(stmt.on_conflict_do_nothing())


async def take_flash(
    db: AsyncSession, *, session_hash: str, request_id: str, environment: str | None, since: datetime
) -> tuple[str, dict[str, int]] | None:
    """The notice this session's request left for a page of ``environment``, removed as it is read."""
    stmt = (
        delete(Flash)
        .where(
            Flash.session_hash == session_hash,
            Flash.request_id == request_id,
            Flash.environment.is_not_distinct_from(environment),
            Flash.created_at >= since,
        )
        .returning(Flash.key, Flash.counts)
    )
    row = (await db.execute(stmt)).first()
    return (row[0], dict(row[1])) if row else None


async def users_with_roles(db: AsyncSession) -> list[tuple[User, dict[str, str]]]:
    """Every user with the role held in each environment (by name)."""
    users = (await db.execute(select(User).order_by(User.name))).scalars().all()
    roles: dict[uuid.UUID, dict[str, str]] = {}
    for user_id, environment, role in (
        await db.execute(select(UserRole.user_id, UserRole.environment, UserRole.role))
    ).all():
        roles.setdefault(user_id, {})[environment] = role
    return [(user, roles.get(user.id, {})) for user in users]


async def user_by_subject(db: AsyncSession, issuer: str, subject: str) -> User | None:
    stmt = select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    return (await db.execute(stmt)).scalar_one_or_none()


async def replace_roles(db: AsyncSession, user_id: uuid.UUID, roles: dict[str, str]) -> None:
    """Make ``roles`` the user's roles: those not in it are removed."""
    await db.execute(
        delete(UserRole).where(UserRole.user_id == user_id, UserRole.environment.not_in(list(roles) or [""]))
    )
    for environment, role in roles.items():
        await upsert_role(db, user_id, environment, role)


async def session_by_hash(db: AsyncSession, id_hash: str) -> Session | None:
    return await db.get(Session, id_hash)


async def flow_for_update(db: AsyncSession, state_hash: str) -> OidcFlow | None:
    stmt = select(OidcFlow).where(OidcFlow.state_hash == state_hash).with_for_update()
    return (await db.execute(stmt)).scalar_one_or_none()


async def used_flow_with_nonce(db: AsyncSession, nonce: str) -> OidcFlow | None:
    stmt = select(OidcFlow).where(OidcFlow.nonce == nonce, OidcFlow.used_at.is_not(None)).limit(1)
    return (await db.execute(stmt)).scalar_one_or_none()


async def purge_flows(db: AsyncSession, *, before: datetime) -> None:
    await db.execute(delete(OidcFlow).where(OidcFlow.expires_at < before))
