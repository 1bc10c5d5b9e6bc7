"""Operators, logins and sessions: the rules. SQL lives in ``repository``.

Services flush, never commit: the request (or the CLI command) owns the transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actors import actor_key, clean_actor, name_problem
from raxx.common.clock import utcnow
from raxx.common.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from raxx.console.auth import repository
from raxx.console.auth.models import Session, User
from raxx.console.auth.passwords import check_policy, hash_password, verify_password
from raxx.console.auth.roles import validate_role

GENERIC_LOGIN_FAILURE = "Invalid user name or password."
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginPolicy:
    delay_after: int
    lockout_after: int
    window: timedelta
    session_lifetime: timedelta
    idle_timeout: timedelta


@dataclass
class Login:
    """A live, authenticated session as a request sees it.

    Plain values, not ORM rows: an error page rendered after a rollback must still be
    able to show who is signed in.
    """

    token: str
    session_hash: str
    csrf_token: str
    current_env: str
    user_id: uuid.UUID
    user_name: str
    roles: dict[str, str]
    #: How and when the user last proved who they are (``password`` or ``oidc``; ``auth_time``).
    auth_method: str = "password"
    auth_time: datetime | None = None


async def create_user(
    db: AsyncSession, name: str, password: str, roles: dict[str, str], *, break_glass: bool = False
) -> User:
    """A local user. ``break_glass``: may still sign in with the password while SSO is configured.

    The name is recorded trimmed, and refused when it is blank or another spelling of an
    existing user's (``raxx.console.auth.names``)."""
    name = clean_actor(name)
    if not name:
        raise BadRequest("a user name must not be blank")
    if problem := name_problem(name):
        raise BadRequest(f"a user name {problem}")
    if (same := await user_named(db, name)) is not None:
        raise Conflict(f"user {name!r} already exists" + ("" if same == name else f" (as {same!r})"))
    check_policy(password, username=name)
    user = User(name=name, password_hash=await hash_password(password), break_glass=break_glass)
    db.add(user)
    await db.flush()
    for environment, role in roles.items():
        await repository.upsert_role(db, user.id, environment, validate_role(role))
    return user


async def user_named(db: AsyncSession, name: str) -> str | None:
    """The existing user ``name`` names however it is spelt (``actor_key``: ``Bob`` is ``bob``), or None."""
    key = actor_key(name)
    return next((existing for existing in await repository.user_names(db) if actor_key(existing) == key), None)


async def set_password(db: AsyncSession, name: str, password: str) -> None:
    user = await _require_user(db, name)
    check_policy(password, username=name)
    user.password_hash = await hash_password(password)
    await repository.revoke_user_sessions(db, user.id, utcnow())
    await db.flush()


async def grant(db: AsyncSession, name: str, environment: str, role: str) -> None:
    user = await _require_user(db, name)
    await repository.upsert_role(db, user.id, environment, validate_role(role))


async def revoke_role(db: AsyncSession, name: str, environment: str) -> None:
    user = await _require_user(db, name)
    if not await repository.delete_role(db, user.id, environment):
        raise NotFound(f"{name!r} holds no role in {environment!r}")


async def _require_user(db: AsyncSession, name: str) -> User:
    user = await repository.user_by_name(db, name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


async def authenticate(db: AsyncSession, *, username: str, password: str, client_ip: str, policy: LoginPolicy) -> User:
    """Check a login, slowing down and then refusing repeated failures (per name and address).

    The failure message never says whether the name exists.
    """
    since = utcnow() - policy.window
    by_name, by_ip = await repository.recent_failures(db, username=username, client_ip=client_ip, since=since)
    failures = max(by_name, by_ip)
    if failures >= policy.lockout_after:
        minutes = int(policy.window.total_seconds() // 60)
        raise TooManyRequests(f"Too many failed logins. Try again in up to {minutes} minutes.")
    if failures >= policy.delay_after:
        await asyncio.sleep(min(0.5 * 2 ** (failures - policy.delay_after), 8.0))
    user = await repository.user_by_name(db, username)
    ok = await verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.disabled_at is None
    await repository.add_attempt(db, username=username, client_ip=client_ip, ok=ok)
    if not ok or user is None:
        raise Unauthorized(GENERIC_LOGIN_FAILURE, code="login_failed")
    return user


async def open_session(
    db: AsyncSession,
    user: User,
    *,
    environment: str,
    client_ip: str,
    user_agent: str,
    policy: LoginPolicy,
    auth_method: str = "password",
    auth_time: datetime | None = None,
    id_token: str | None = None,
) -> str:
    """A new session with a new id (never reuse one from before login); returns the cookie token.

    ``auth_time``: when the user authenticated (the ID token's, for ``oidc``; now by default).
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        Session(
            id_hash=hash_token(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            current_env=environment,
            expires_at=now + policy.session_lifetime,
            client_ip=client_ip[:64],
            user_agent=user_agent[:256],
            auth_method=auth_method,
            auth_time=auth_time or now,
            id_token=id_token,
        )
    )
    await db.flush()
    return token


async def load_login(
    db: AsyncSession, token: str, *, policy: LoginPolicy, now: datetime | None = None, activity: bool = True
) -> Login | None:
    """The session behind a cookie, or None when it is unknown, revoked, expired or idle.

    Both timeouts are the server's: the cookie itself never expires (it lives as long as the
    browser). ``activity=False`` is for requests a page makes on its own (the orders table's
    refresh): they may use the session but do not keep it alive, so an unattended tab still
    signs out after the idle timeout.
    """
    now = now or utcnow()
    found = await repository.session_user_roles(db, hash_token(token))
    if found is None:
        return None
    session, user, roles = found
    if session.revoked_at is not None or user.disabled_at is not None or session.expires_at <= now:
        return None
    if now - session.last_seen_at > policy.idle_timeout:
        await repository.revoke_session(db, session.id_hash, now)
        return None
    if activity and now - session.last_seen_at > min(TOUCH_EVERY, policy.idle_timeout / 10):
        await repository.touch_session(db, session.id_hash, now)
    return Login(
        token=token,
        session_hash=session.id_hash,
        csrf_token=session.csrf_token,
        current_env=session.current_env,
        user_id=user.id,
        user_name=user.name,
        roles=roles,
        auth_method=session.auth_method,
        auth_time=session.auth_time,
    )


async def switch_environment(db: AsyncSession, login: Login, environment: str) -> str:
    """Record the session's new environment; returns the one it replaced."""
    previous = login.current_env
    await repository.set_session_env(db, login.session_hash, environment)
    login.current_env = environment
    return previous


async def end_session(db: AsyncSession, login: Login) -> None:
    await repository.revoke_session(db, login.session_hash, utcnow())


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
