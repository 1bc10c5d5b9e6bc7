"""The personal token format, pure functions: ``rxc_<token id>_<secret>``.

``rxc`` (console) differs from Raptor's ``rxp`` so a pasted token says which service it
belongs to. The secret has 256 bits of entropy, so SHA-256 is enough to store it (a
slow password hash would only add latency to every API call).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "rxc"
_TOKEN_RE = re.compile(r"^rxc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
#: A token anywhere in a text (pasted into a reason, a name): the secret starts after the id.
_TOKEN_IN_TEXT_RE = re.compile(r"rxc_[0-9a-f]{16}_[A-Za-z0-9_-]{16}")


@dataclass(frozen=True)
class ParsedToken:
    token_id: str
    secret: str


def new_token() -> tuple[str, str, str]:
    """A new (token id, secret, full token)."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return token_id, secret, f"{PREFIX}_{token_id}_{secret}"


def parse(raw: str) -> ParsedToken | None:
    match = _TOKEN_RE.match(raw.strip())
    return ParsedToken(match.group(1), match.group(2)) if match else None


def is_token_id(text: str) -> bool:
    """Whether ``text`` has the form of a token id (the ``<id>`` of ``rxc_<id>_<secret>``)."""
    return _TOKEN_ID_RE.match(text) is not None


def holds_token(text: str) -> bool:
    """Whether ``text`` contains a personal token (even cut short, or inside other words): the
    audit trail stores no such text (``raxx.console.audit.canonical``)."""
    return "rxc_" in text and _TOKEN_IN_TEXT_RE.search(text) is not None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
