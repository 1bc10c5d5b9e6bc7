"""Typed confirmations: the operator types the environment and the target; the server binds the rest.

A protected environment (prod) asks for a typed confirmation before the actions its
registry entry lists in ``confirm_actions``. The confirmation page carries a token:

    v1.<expires unix seconds>.<nonce>.<hex HMAC-SHA256>

whose MAC covers the session, the environment, the action, the *canonical* parameters
(sorted, all strings) and the expiry. So a confirmation for canceling order A cannot be
replayed to cancel all, to cancel order B, in another environment, from another
session, or after it expires; and because its nonce is recorded when it is acted on, it
cannot be replayed at all. What the operator types is checked against what the page
showed (environment name and target phrase): it proves attention, the MAC proves binding.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.errors import BadRequest
from raxx.console.confirmation import repository

VERSION = "v1"
_TOKEN_RE = re.compile(r"^v1\.(\d{1,12})\.([A-Za-z0-9_-]{16,32})\.([0-9a-f]{64})$")


class ConfirmationRefused(BadRequest):
    """The confirmation token does not match this exact action, or is expired or used. Nothing was sent."""

    code = "confirmation_invalid"


@dataclass(frozen=True)
class Confirmable:
    """An action about to be confirmed: what is bound, and what the operator must type."""

    action: str
    environment: str
    params: Mapping[str, str]
    target_phrase: str
    #: Other spellings of the target the operator may type (an order's short id).
    also_accepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verified:
    nonce: str
    expires_at: datetime


def canonical(confirmable: Confirmable, *, session_hash: str, expires: int, nonce: str) -> bytes:
    """The exact bytes the MAC covers."""
    params = orjson.dumps(dict(confirmable.params), option=orjson.OPT_SORT_KEYS)
    parts = [VERSION, session_hash, confirmable.environment, confirmable.action, params.decode(), str(expires), nonce]
    return "\n".join(parts).encode()


def _key(secret_key: str) -> bytes:
    # A key of its own, derived from the console secret: a confirmation MAC is never a valid CSRF token.
    return hmac.new(secret_key.encode(), b"raxx.console.confirmation.v1", hashlib.sha256).digest()


def issue(secret_key: str, confirmable: Confirmable, *, session_hash: str, now: datetime, ttl: timedelta) -> str:
    expires = int((now + ttl).timestamp())
    nonce = secrets.token_urlsafe(16)
    mac = hmac.new(
        _key(secret_key), canonical(confirmable, session_hash=session_hash, expires=expires, nonce=nonce), "sha256"
    )
    return f"{VERSION}.{expires}.{nonce}.{mac.hexdigest()}"


def verify(secret_key: str, token: str, confirmable: Confirmable, *, session_hash: str, now: datetime) -> Verified:
    """Check the token binds exactly this action; raise :class:`ConfirmationRefused` otherwise."""
    match = _TOKEN_RE.match(token or "")
    if match is None:
        raise ConfirmationRefused("This confirmation is malformed. Nothing was sent; start the action again.")
    expires, nonce, given = int(match.group(1)), match.group(2), match.group(3)
    expected = hmac.new(
        _key(secret_key), canonical(confirmable, session_hash=session_hash, expires=expires, nonce=nonce), "sha256"
    ).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise ConfirmationRefused(
            f"This confirmation was given for a different action, target, environment or session, not for "
            f"{confirmable.action} on {confirmable.target_phrase!r} in {confirmable.environment}. Nothing was sent.",
            extra={"environment": confirmable.environment, "action": confirmable.action},
        )
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= now:
        raise ConfirmationRefused("This confirmation expired. Nothing was sent; start the action again.")
    return Verified(nonce=nonce, expires_at=expires_at)


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def typed_errors(confirmable: Confirmable, *, typed_env: str, typed_target: str) -> dict[str, str]:
    """Field errors for what the operator typed; empty when both match."""
    errors: dict[str, str] = {}
    if _normal(typed_env) != confirmable.environment.casefold():
        errors["typed_env"] = f"type the environment name, {confirmable.environment}"
    accepted = {_normal(confirmable.target_phrase), *(_normal(a) for a in confirmable.also_accepted)}
    if _normal(typed_target) not in accepted:
        errors["typed_target"] = f"type the target exactly: {confirmable.target_phrase}"
    return errors


async def consume(db: AsyncSession, verified: Verified, confirmable: Confirmable, *, now: datetime) -> None:
    """Mark the confirmation used (in the request's transaction: a failed action frees it again)."""
    await repository.purge_expired(db, now=now)
    if not await repository.use_nonce(
        db,
        nonce=verified.nonce,
        action=confirmable.action,
        environment=confirmable.environment,
        expires_at=verified.expires_at,
    ):
        raise ConfirmationRefused("This confirmation was already used. Nothing was sent again.")
