"""The token format and its hashing: pure functions, no I/O.

A token reads ``rxp_<environment>_<token id>_<secret>``. The environment is in clear so
a deployment can refuse another environment's token before any lookup (and say so:
``wrong_environment``); the token id finds the stored row; only a SHA-256 of the secret
is stored, compared in constant time. The secret has 256 bits of entropy, so a fast
hash is enough (a slow password hash would only add latency to every request).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from raxx.common.environments import ENV_NAME_RE

PREFIX = "rxp"
SCOPES = ("read", "trade", "admin")
#: What each granted scope also allows: trade and admin both imply read.
IMPLIED_SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "trade": frozenset({"trade", "read"}),
    "admin": frozenset({"admin", "read"}),
}
_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


@dataclass(frozen=True)
class ParsedToken:
    environment: str
    token_id: str
    secret: str


def is_token_id(value: str) -> bool:
    return _TOKEN_ID_RE.match(value) is not None


def new_token_id() -> str:
    return secrets.token_hex(8)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def format_token(environment: str, token_id: str, secret: str) -> str:
    return f"{PREFIX}_{environment}_{token_id}_{secret}"


def parse_token(raw: str) -> ParsedToken | None:
    """Split a presented token; None when it is not of our format at all."""
    parts = raw.split("_", 3)
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    _, environment, token_id, secret = parts
    if not (ENV_NAME_RE.match(environment) and _TOKEN_ID_RE.match(token_id) and _SECRET_RE.match(secret)):
        return None
    return ParsedToken(environment=environment, token_id=token_id, secret=secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def same_environment(claimed: str, own: str) -> bool:
    return hmac.compare_digest(claimed.encode(), own.encode())


def effective_scopes(granted: list[str] | tuple[str, ...]) -> frozenset[str]:
    allowed: set[str] = set()
    for scope in granted:
        allowed |= IMPLIED_SCOPES.get(scope, frozenset())
    return frozenset(allowed)


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return sorted(set(scopes), key=SCOPES.index)
