"""Issuing, listing, revoking and verifying tokens.

``issue_token_sync`` is the contract ``raxx up`` and the CLI call; ``TokenVerifier``
is what every authenticated request goes through.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from raxx.common import metrics
from raxx.common.db import create_sync
from raxx.common.environments import validate_env_name
from raxx.common.errors import BadRequest, ConfigError, NotFound
from raxx.raptor.errors import InvalidToken, WrongEnvironment
from raxx.raptor.logctx import environment_warning
from raxx.raptor.token import repository
from raxx.raptor.token.format import (
    effective_scopes,
    format_token,
    hash_secret,
    is_token_id,
    new_secret,
    new_token_id,
    parse_token,
    same_environment,
    secret_matches,
    validate_scopes,
)
from raxx.raptor.token.repository import TokenRecord

log = logging.getLogger("raxx.raptor.token")

#: Where a verifier gets a connection for a lookup (``RaptorDatabase.statements``).
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the verified token, its allowed scopes and the operator the console named."""

    token_id: str
    token_name: str
    scopes: frozenset[str]
    actor: str | None = None


def issue_token_sync(database_url: str, *, environment: str, scopes: list[str], name: str) -> str:
    """Create a token for ``environment`` with ``scopes``; return its plaintext (shown once).

    Only the SHA-256 of the secret is stored. ``scopes`` are among read, trade, admin.
    """
    validate_env_name(environment)
    try:
        granted = validate_scopes(scopes)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not name.strip() or len(name) > 200:
        raise BadRequest("a token name is 1 to 200 characters")
    token_id, secret = new_token_id(), new_secret()
    engine = create_sync(database_url, application_name="raxx-token")
    try:
        with engine.begin() as conn:
            repository.insert(
                conn,
                token_id=token_id,
                environment=environment,
                name=name,
                scopes=granted,
                secret_hash=hash_secret(secret),
            )
    finally:
        engine.dispose()
    return format_token(environment, token_id, secret)


def refuse_another_deployments_database(database_url: str, environment: str) -> None:
    """The operator's check before issuing (``raxx raptor token issue``): a token lives in its
    own deployment's database, and one for ``staging`` written into prod's would be refused by
    both deployments (prod: another environment's; staging: unknown). The database does not
    name its deployment, but the tokens it holds do. (Tests write such a token on purpose.)"""
    engine = create_sync(database_url, application_name="raxx-token")
    try:
        with engine.connect() as conn:
            others = repository.environments(conn) - {environment}
    finally:
        engine.dispose()
    if others:
        raise ConfigError(
            f"refusing to issue a {environment!r} token: this database holds {', '.join(sorted(others))} tokens, "
            "so it is another deployment's; check --database-url or RAPTOR_DATABASE_URL"
        )


def list_tokens_sync(database_url: str) -> list[TokenRecord]:
    engine = create_sync(database_url, application_name="raxx-token")
    try:
        with engine.connect() as conn:
            return repository.list_all(conn)
    finally:
        engine.dispose()


def revoke_token_sync(database_url: str, given: str) -> str:
    """Revoke a token by its id, or by the whole token (its id is read from it); return the id.

    A whole token is a secret: no message repeats it."""
    parsed = parse_token(given)
    token_id = parsed.token_id if parsed is not None else given
    if not is_token_id(token_id):
        raise BadRequest("a token id is 16 hex characters: the part after the environment in the token")
    engine = create_sync(database_url, application_name="raxx-token")
    try:
        with engine.begin() as conn:
            if not repository.revoke(conn, token_id):
                raise NotFound(f"no token with id {token_id}")
    finally:
        engine.dispose()
    return token_id


class TokenVerifier:
    """Checks a presented token against this deployment's environment and its stored hash.

    A verified token is trusted for ``cache_seconds`` in this process to keep the
    order path to one database round trip; revocation takes effect within that delay.

    Every token refused as another environment's is logged (``raptor.token.wrong_environment``:
    the environment it claims and its public id, never the secret) and counted in
    :attr:`wrong_environment`, by claimed environment, for the process's metrics: a console
    whose backend URL leads to the wrong Raptor shows up here first.
    """

    def __init__(self, connect: Connect, *, environment: str, cache_seconds: float) -> None:
        self._connect = connect
        self._environment = environment
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, TokenRecord]] = {}
        #: Tokens refused as another environment's since the process started, by claimed environment.
        self.wrong_environment: Counter[str] = Counter()
        #: The same refusals for Prometheus, every worker's added up (the claimed environment is
        #: the caller's text, so it is no label there).
        self._refusals = metrics.CROSS_ENV_REFUSALS.labels(environment)

    async def verify(self, raw: str, *, count: bool = True) -> Caller:
        """The caller of a token good here; a typed refusal otherwise. ``count=False`` for a
        check whose refusal is handed on to another that counts it (once per request)."""
        parsed = parse_token(raw)
        if parsed is None:
            raise InvalidToken("the token is malformed")
        if not same_environment(parsed.environment, self._environment):
            raise self._refuse_other_environment(parsed.environment, parsed.token_id, count=count)
        record = await self._lookup(parsed.token_id)
        # Compare even when the row is missing, so timing says nothing about which ids exist.
        stored_hash = record.secret_hash if record else hash_secret("")
        if not secret_matches(parsed.secret, stored_hash) or record is None:
            raise InvalidToken("the token is not valid")
        if record.revoked_at is not None:
            raise InvalidToken("the token has been revoked")
        if not same_environment(record.environment, self._environment):
            raise self._refuse_other_environment(record.environment, record.id, count=count)
        return Caller(token_id=record.id, token_name=record.name, scopes=effective_scopes(record.scopes))

    def _refuse_other_environment(self, claimed: str, token_id: str, *, count: bool) -> WrongEnvironment:
        if count:
            self.wrong_environment[claimed] += 1
            self._refusals.inc()
            environment_warning(
                log,
                "raptor.token.wrong_environment",
                self._environment,
                claimed_environment=claimed,
                token_id=token_id,
                refused_total=sum(self.wrong_environment.values()),
            )
        return WrongEnvironment(
            f"this token was issued for {claimed!r}; this is {self._environment!r}",
            extra={"environment": self._environment},
        )

    def forget(self, token_id: str | None = None) -> None:
        if token_id is None:
            self._cache.clear()
        else:
            self._cache.pop(token_id, None)

    async def _lookup(self, token_id: str) -> TokenRecord | None:
        now = time.monotonic()
        hit = self._cache.get(token_id)
        if hit and now - hit[0] < self._cache_seconds:
            return hit[1]
        async with self._connect() as conn:
            record = await repository.find(conn, token_id)
        if record is not None and self._cache_seconds > 0:
            self._cache[token_id] = (now, record)
        return record
