"""Where ``raxx audit verify --public-key KEY`` finds public keys: a file, a URL or the key itself."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx

from raxx.common.errors import BadRequest, Unavailable
from raxx.console.audit.keys import PUBLIC_PREFIX, VerifyKey, parse_public_keys

FETCH_TIMEOUT_S = 10.0


def read_public_keys(values: Iterable[str]) -> list[VerifyKey]:
    """Every key named by ``values``: ``ed25519:...`` itself, an ``http(s)://`` URL (the console's
    ``/.well-known/raxx-audit-keys.json``) or a file holding PEM, compact keys or that document."""
    keys: list[VerifyKey] = []
    for value in values:
        keys += parse_public_keys(_text_of(value), source=f"--public-key {value[:80]}")
    return keys


def _text_of(value: str) -> str:
    if value.startswith(PUBLIC_PREFIX):
        return value
    if value.startswith(("https://", "http://")):
        try:
            response = httpx.get(value, timeout=FETCH_TIMEOUT_S, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(f"--public-key {value}: cannot fetch it ({type(exc).__name__})") from None
        return response.text
    try:
        return Path(value).read_text()
    except OSError as exc:
        raise BadRequest(f"--public-key {value}: cannot read it ({exc.strerror})") from None
