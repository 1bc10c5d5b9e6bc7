"""Ed25519 keys of audit checkpoints: the console signs with a private key, anyone verifies.

A verifier needs only public keys, which the console publishes
(``/.well-known/raxx-audit-keys.json``, ``raxx audit checkpoint --public-key``): it can
check a checkpoint but not forge one, as with CloudTrail's digest files.

Text forms (one line each, so they fit an environment variable, a ``.env`` file, a Heroku
config var or an Infisical secret):

* private key: ``ed25519-private:<base64 of the 32-byte seed>`` (``raxx audit keygen``),
  or a PKCS#8 PEM block (``openssl genpkey -algorithm ed25519``);
* public key: ``ed25519:<base64 of the 32 raw bytes>``, or a SubjectPublicKeyInfo PEM block.

A key id is the first 16 hex digits of SHA-256 over the raw public key: anyone holding the
public key can compute it, and each checkpoint names the id of the key that signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from raxx.common.errors import ConfigError

ALGORITHM = "ed25519"
PUBLIC_PREFIX = "ed25519:"
PRIVATE_PREFIX = "ed25519-private:"
KEYS_DOCUMENT_VERSION = 1
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class KeyFormatError(ConfigError):
    """A key that cannot be read; the message names where it came from, never its value."""


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key: verifies checkpoint signatures."""

    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def compact(self) -> str:
        return PUBLIC_PREFIX + base64.b64encode(self.raw).decode()

    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, message: bytes, signature: str) -> bool:
        try:
            self.key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class SigningKey:
    """An Ed25519 private key: signs checkpoints. Its text never appears in a message."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = VerifyKey(key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def compact(self) -> str:
        seed = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return PRIVATE_PREFIX + base64.b64encode(seed).decode()

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())


def is_private_key(text: str) -> bool:
    """Whether ``text`` has the shape of a private key we read (not whether it is valid)."""
    stripped = text.strip()
    return stripped.startswith(PRIVATE_PREFIX) or "-----BEGIN PRIVATE KEY-----" in stripped


def load_signing_key(text: str, *, source: str) -> SigningKey:
    """The private key in ``text`` (compact or PKCS#8 PEM); ``source`` names it in errors."""
    stripped = text.strip()
    try:
        if stripped.startswith(PRIVATE_PREFIX):
            seed = base64.b64decode(stripped[len(PRIVATE_PREFIX) :], validate=True)
            return SigningKey(Ed25519PrivateKey.from_private_bytes(seed))
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(stripped.encode(), password=None)
            if isinstance(key, Ed25519PrivateKey):
                return SigningKey(key)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        pass
    raise KeyFormatError(
        f"{source} is not an Ed25519 private key (expected {PRIVATE_PREFIX}<base64> from `raxx audit keygen`, "
        f"or a PKCS#8 PEM block)"
    )


def parse_public_keys(text: str, *, source: str) -> list[VerifyKey]:
    """Every public key in ``text``: the console's keys document (JSON), PEM blocks, or compact
    ``ed25519:`` keys separated by whitespace or commas. Refuses text that holds none."""
    stripped = text.strip()
    if stripped.startswith("{"):
        keys = _from_document(stripped, source=source)
    elif "-----BEGIN" in stripped:
        keys = [_from_pem(block.group(0), source=source) for block in _PEM_BLOCK.finditer(stripped)]
    else:
        keys = [_from_compact(item, source=source) for item in re.split(r"[\s,]+", stripped) if item]
    if not keys:
        raise KeyFormatError(f"{source} holds no Ed25519 public key")
    return keys


def keys_document(current: VerifyKey | None, older: Iterable[VerifyKey]) -> dict[str, Any]:
    """What the console publishes: every key a checkpoint of this console may name."""
    entries = [] if current is None else [_entry(current, "current")]
    entries += [_entry(key, "retired") for key in older if current is None or key.key_id != current.key_id]
    return {"version": KEYS_DOCUMENT_VERSION, "algorithm": ALGORITHM, "keys": entries}


def _entry(key: VerifyKey, status: str) -> dict[str, str]:
    return {"key_id": key.key_id, "status": status, "public_key": key.compact(), "pem": key.pem()}


def _from_document(text: str, *, source: str) -> list[VerifyKey]:
    try:
        document = json.loads(text)
        entries = document["keys"]
        found = [_from_compact(str(entry["public_key"]), source=source) for entry in entries]
    except (ValueError, KeyError, TypeError):
        raise KeyFormatError(
            f"{source} is not a keys document (expected {{'keys': [{{'public_key': ...}}]}})"
        ) from None
    for entry, key in zip(entries, found, strict=True):
        if entry.get("key_id") not in (None, key.key_id):
            raise KeyFormatError(f"{source}: key id {entry['key_id']} does not match its public key ({key.key_id})")
    return found


def _from_compact(item: str, *, source: str) -> VerifyKey:
    if not item.startswith(PUBLIC_PREFIX):
        raise KeyFormatError(f"{source}: expected {PUBLIC_PREFIX}<base64>, PEM or a keys document")
    try:
        return VerifyKey(
            Ed25519PublicKey.from_public_bytes(base64.b64decode(item[len(PUBLIC_PREFIX) :], validate=True))
        )
    except (ValueError, binascii.Error):
        raise KeyFormatError(f"{source}: {item[:24]}... is not a 32-byte Ed25519 public key") from None


def _from_pem(block: str, *, source: str) -> VerifyKey:
    try:
        key = serialization.load_pem_public_key(block.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError(f"{source}: a PEM block that is not a public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError(f"{source}: a {type(key).__name__}, not an Ed25519 public key")
    return VerifyKey(key)
