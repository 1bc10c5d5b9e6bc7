"""Which keys ``raxx audit verify`` checks checkpoints with: those given with ``--public-key``
(a file, a URL or the key itself; nothing secret needed), else the local configuration's."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx

from raxx.common.errors import BadRequest, ConfigError, Unavailable
from raxx.common.secrets import SecretsProvider
from raxx.console.audit.checkpoint import (
    LEGACY_HMAC_SECRET,
    PUBLIC_KEYS_SETTING,
    SIGNING_KEY_SECRET,
    CheckpointVerifier,
    checkpoint_keys,
)
from raxx.console.audit.keys import PUBLIC_PREFIX, VerifyKey, parse_public_keys

FETCH_TIMEOUT_S = 10.0


def verifier_for(public_keys: Iterable[str], secrets: SecretsProvider, *, required: bool) -> CheckpointVerifier | None:
    """The keys named by ``public_keys`` when any, else the configured ones (the signing key's
    public half, ``CONSOLE_AUDIT_PUBLIC_KEYS``); None when there are none and none are required.

    The old HMAC secret, when present, still verifies checkpoints from before Ed25519.
    """
    named = list(public_keys)
    if named:
        return CheckpointVerifier(read_public_keys(named), hmac_key=secrets.get(LEGACY_HMAC_SECRET))
    keys = checkpoint_keys(secrets)
    if keys.signing is None and not keys.older and keys.hmac_key is None:
        if required:
            raise ConfigError(
                f"verifying a checkpoint needs its public key: pass --public-key (a file, the console's "
                f"/.well-known/raxx-audit-keys.json URL, or ed25519:...), or set {SIGNING_KEY_SECRET} "
                f"or {PUBLIC_KEYS_SETTING}"
            )
        return None
    return keys.verifier()


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
