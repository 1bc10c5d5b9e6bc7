"""Personal API tokens: create (shown once), list, revoke, verify.

A token carries no roles of its own: a request made with it acts as its user, with
the roles that user holds *now*, and only in the environments chosen when it was made
(its scope; anywhere else the request is refused, ``TokenOutOfScope`` in ``actions.py``).
Verification is cached for a few seconds per process (``api_token_cache_s``) to keep the
JSON API's read path to zero database round trips; revoking a token through this process forgets it at once, and
other processes see a revocation or a role change within that delay.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from raxx.common.clock import utcnow
from raxx.common.environments import validate_env_name
from raxx.common.errors import BadRequest, NotFound, Unauthorized
from raxx.console.apitoken import format as token_format
from raxx.console.apitoken import repository
from raxx.console.apitoken.models import ApiToken
from raxx.console.apitoken.repository import TokenOwner
from raxx.console.auth import repository as users

MAX_TOKENS_PER_USER = 20
MAX_LIFETIME_DAYS = 366


class InvalidApiToken(Unauthorized):
    code = "invalid_token"


@dataclass(frozen=True)
class NewToken:
    token_id: str
    name: str
    user_name: str
    expires_at: datetime | None
    plaintext: str  # shown once, never stored
    environments: tuple[str, ...] = ()


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        raise BadRequest("a token name is 1 to 100 printable characters", code="invalid_token_name")
    return cleaned


async def create(
    db: AsyncSession, *, user_name: str, name: str, expires_days: int | None, environments: Sequence[str]
) -> NewToken:
    """Create a token for ``user_name`` acting only in ``environments`` (the caller checked them
    against its registry and had protected ones confirmed); its plaintext is in the result and
    nowhere else."""
    scope = sorted({validate_env_name(env) for env in environments})
    if not scope:
        raise BadRequest("choose at least one environment the token may act in", code="invalid_token_scope")
    user = await users.user_by_name(db, user_name)
    if user is None:
        raise NotFound(f"no user named {user_name!r}")
    if user.disabled_at is not None:
        raise BadRequest(f"user {user_name!r} is disabled")
    if expires_days is not None and not 1 <= expires_days <= MAX_LIFETIME_DAYS:
        raise BadRequest(f"a token lives 1 to {MAX_LIFETIME_DAYS} days", code="invalid_expiry")
    live = [t for t in await repository.of_user(db, user.id) if t.revoked_at is None]
    if len(live) >= MAX_TOKENS_PER_USER:
        raise BadRequest(f"{user_name} already has {len(live)} live tokens; revoke one first", code="too_many_tokens")
    token_id, secret, plaintext = token_format.new_token()
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    await repository.insert(
        db,
        token_id=token_id,
        user_id=user.id,
        name=_check_name(name),
        secret_hash=token_format.hash_secret(secret),
        expires_at=expires_at,
        environments=scope,
    )
    return NewToken(
        token_id=token_id,
        name=name.strip(),
        user_name=user.name,
        expires_at=expires_at,
        plaintext=plaintext,
        environments=tuple(scope),
    )


async def revoke(db: AsyncSession, token_id: str, *, user_id: uuid.UUID | None = None) -> tuple[str, ...]:
    """Revoke a live token; with ``user_id``, only one of that user's tokens. Returns the
    environments it acted in."""
    scope = await repository.revoke(db, token_id, now=utcnow(), user_id=user_id)
    if scope is None:
        raise NotFound(f"no live token {token_id!r}" + (" of yours" if user_id else ""))
    return scope


async def environments_of(db: AsyncSession, token_id: str) -> tuple[str, ...]:
    """The environments a token acts in; none for text that is no token id, or no such token."""
    return await repository.environments_of(db, token_id) if token_format.is_token_id(token_id) else ()


def audit_environment(scope: Sequence[str]) -> str | None:
    """The environment a token's creation and revocation are recorded in: its one environment.
    A token of several environments (``raxx console token create --env a --env b``) is recorded
    console-wide (None); its environments are in the record's ``token_environments``."""
    return scope[0] if len(scope) == 1 else None


async def tokens_of(db: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    return await repository.of_user(db, user_id)


class ApiTokenVerifier:
    """Turns a presented bearer token into its owner, or refuses it (one message for every reason)."""

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, TokenOwner]] = {}
        #: The one database read under way per token id: requests that miss the cache together
        #: share it (otherwise, at the moment an entry expires, every request in flight for that
        #: token reads and touches its row: at 32 connections, a burst of queries every few seconds).
        self._loading: dict[str, asyncio.Task[TokenOwner | None]] = {}

    async def verify(self, raw: str) -> TokenOwner:
        parsed = token_format.parse(raw)
        if parsed is None:
            raise InvalidApiToken("the token is malformed; expected rxc_<id>_<secret>")
        owner = await self._owner(parsed.token_id)
        # Compare even when the token is unknown, so timing says nothing about which ids exist.
        if not token_format.secret_matches(parsed.secret, owner.secret_hash if owner else "0" * 64) or owner is None:
            raise InvalidApiToken("the token is not valid")
        now = utcnow()
        if owner.revoked_at is not None:
            raise InvalidApiToken("the token has been revoked")
        if owner.expires_at is not None and owner.expires_at <= now:
            raise InvalidApiToken("the token has expired")
        if owner.user_disabled:
            raise InvalidApiToken("the token's user is disabled")
        return owner

    def forget(self, token_id: str | None = None) -> None:
        """Drop cached answers (one token, or all after a role change made by this process)."""
        if token_id is None:
            self._cache.clear()
            self._loading.clear()
        else:
            self._cache.pop(token_id, None)
            self._loading.pop(token_id, None)  # a read begun before cannot answer later callers

    async def _owner(self, token_id: str) -> TokenOwner | None:
        hit = self._cache.get(token_id)
        if hit is not None and time.monotonic() - hit[0] < self._cache_seconds:
            return hit[1]
        loading = self._loading.get(token_id)
        if loading is None:
            loading = self._loading[token_id] = asyncio.create_task(self._load(token_id))
            loading.add_done_callback(functools.partial(self._loaded, token_id))
        return await asyncio.shield(loading)  # a caller that gives up does not cancel the others' read

    def _loaded(self, token_id: str, task: asyncio.Task[TokenOwner | None]) -> None:
        if self._loading.get(token_id) is task:
            del self._loading[token_id]

    async def _load(self, token_id: str) -> TokenOwner | None:
        now = time.monotonic()
        async with self._engine.begin() as conn:
            owner = await repository.owner_of(conn, token_id)
            if owner is not None and owner.revoked_at is None:
                await repository.touch(conn, token_id, utcnow())
        forgotten = self._loading.get(token_id) is not asyncio.current_task()
        if owner is not None and self._cache_seconds > 0 and not forgotten:
            if len(self._cache) > 10_000:  # bounded: a flood of distinct ids cannot grow memory
                self._cache.clear()
            self._cache[token_id] = (now, owner)
        return owner
