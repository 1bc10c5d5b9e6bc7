"""Signed checkpoints: "the chain had hash H at seq N", signed with a key the database never sees.

A hash chain cannot show that its newest events were deleted (the shorter chain is
still valid). A checkpoint kept somewhere else can: verify finds the chain shorter
than, or different from, what was signed. Signatures are **Ed25519** (``keys.py``): the
console holds the private key (``CONSOLE_AUDIT_SIGNING_KEY``) and publishes the public
ones, so anyone can verify a checkpoint and nobody without the private key can forge one.
``key_id`` names the key that signed; after a rotation the console keeps the older
public keys (``CONSOLE_AUDIT_PUBLIC_KEYS``) and still verifies what they signed.

Checkpoints written before Ed25519 (algorithm ``hmac-sha256``) verify only with the old
secret, given as ``CONSOLE_AUDIT_HMAC_KEY``; it never signs anything any more. Without
it they cannot be verified: a stored one is noted and not used, an exported one given to
``raxx audit verify --checkpoint`` is reported as a bad checkpoint.

The signed message (C2SP-checkpoint-like, one field per line)::

    raxx.audit.checkpoint.v1
    <origin>
    <seq>
    <hash>
    <created_at as YYYY-MM-DDTHH:MM:SS.ffffffZ>
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.errors import ConfigError, RaxxError
from raxx.common.secrets import SecretsProvider
from raxx.console.audit import repository
from raxx.console.audit.canonical import format_timestamp
from raxx.console.audit.keys import (
    ALGORITHM,
    SigningKey,
    VerifyKey,
    is_private_key,
    keys_document,
    load_signing_key,
    parse_public_keys,
)

SIGNING_KEY_SECRET = "CONSOLE_AUDIT_SIGNING_KEY"  # noqa: S105 (the name of the secret, not a value)
PUBLIC_KEYS_SETTING = "CONSOLE_AUDIT_PUBLIC_KEYS"
LEGACY_HMAC_SECRET = "CONSOLE_AUDIT_HMAC_KEY"  # noqa: S105
LEGACY_ALGORITHM = "hmac-sha256"
DEFAULT_ORIGIN = "raxx.console.audit"
MIN_HMAC_KEY_BYTES = 32
MESSAGE_HEADER = "raxx.audit.checkpoint.v1"


class CheckpointFileError(RaxxError):
    """An exported checkpoint file that cannot be read."""

    code = "checkpoint_file_invalid"
    exit_code = 6


@dataclass(frozen=True)
class Checkpoint:
    checkpoint_id: uuid.UUID
    seq: int
    hash: str
    created_at: datetime
    origin: str
    algorithm: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        return signed_message(self.origin, self.seq, self.hash, self.created_at)

    def to_json(self) -> str:
        """One line of an export file."""
        return json.dumps(
            {
                "version": 1,
                "checkpoint_id": str(self.checkpoint_id),
                "origin": self.origin,
                "seq": self.seq,
                "hash": self.hash,
                "created_at": format_timestamp(self.created_at),
                "algorithm": self.algorithm,
                "key_id": self.key_id,
                "signature": self.signature,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(
            checkpoint_id=uuid.UUID(str(data["checkpoint_id"])),
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            created_at=_parse_time(data["created_at"]),
            origin=str(data["origin"]),
            algorithm=str(data["algorithm"]),
            key_id=str(data["key_id"]),
            signature=str(data["signature"]),
        )


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("checkpoint time has no timezone")
    return parsed


def signed_message(origin: str, seq: int, chain_hash: str, created_at: datetime) -> bytes:
    return f"{MESSAGE_HEADER}\n{origin}\n{seq}\n{chain_hash}\n{format_timestamp(created_at)}\n".encode()


class CheckpointVerifier:
    """Checks checkpoint signatures: Ed25519 with the public key the checkpoint names, or, for a
    checkpoint from before Ed25519, HMAC-SHA256 with the old secret when it is given."""

    def __init__(self, public_keys: Iterable[VerifyKey] = (), *, hmac_key: str | bytes | None = None) -> None:
        self.public_keys = {key.key_id: key for key in public_keys}
        self._hmac = _LegacyHmac(hmac_key) if hmac_key else None

    def holds_key_for(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.algorithm == LEGACY_ALGORITHM:
            return self._hmac is not None and self._hmac.key_id == checkpoint.key_id
        return checkpoint.key_id in self.public_keys

    def problem_with(self, checkpoint: Checkpoint) -> str | None:
        """Why ``checkpoint``'s signature cannot be trusted, or None when it verifies."""
        if checkpoint.algorithm == LEGACY_ALGORITHM:
            return self._legacy_problem(checkpoint)
        if checkpoint.algorithm != ALGORITHM:
            return f"unsupported algorithm {checkpoint.algorithm!r}"
        key = self.public_keys.get(checkpoint.key_id)
        if key is None:
            held = ", ".join(sorted(self.public_keys)) or "none"
            return f"signed with key {checkpoint.key_id}, whose public key was not given (held: {held})"
        if not key.verifies(checkpoint.message(), checkpoint.signature):
            return "signature does not match its contents"
        return None

    def _legacy_problem(self, checkpoint: Checkpoint) -> str | None:
        if self._hmac is None:
            return f"an HMAC checkpoint from before Ed25519: verifiable only with the old secret {LEGACY_HMAC_SECRET}"
        if checkpoint.key_id != self._hmac.key_id:
            return f"an HMAC checkpoint signed with another old secret (key id {checkpoint.key_id})"
        if not hmac.compare_digest(self._hmac.sign(checkpoint.message()), checkpoint.signature):
            return "signature does not match its contents"
        return None


class _LegacyHmac:
    """The HMAC-SHA256 secret that signed checkpoints before Ed25519: verifies, never signs."""

    def __init__(self, key: str | bytes) -> None:
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < MIN_HMAC_KEY_BYTES:
            raise ConfigError(f"{LEGACY_HMAC_SECRET} must be at least {MIN_HMAC_KEY_BYTES} bytes long")
        self._key = raw
        self.key_id = hashlib.sha256(b"raxx.audit.key-id\n" + raw).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class CheckpointSigner:
    """Signs checkpoints with the console's Ed25519 private key; verifies with every key it knows."""

    algorithm = ALGORITHM

    def __init__(
        self,
        key: SigningKey,
        *,
        origin: str = DEFAULT_ORIGIN,
        older: Iterable[VerifyKey] = (),
        hmac_key: str | bytes | None = None,
    ) -> None:
        self._key = key
        self.origin = origin
        self.key_id = key.key_id
        self.verifier = CheckpointVerifier([key.public, *older], hmac_key=hmac_key)

    def checkpoint(self, seq: int, chain_hash: str, created_at: datetime) -> Checkpoint:
        message = signed_message(self.origin, seq, chain_hash, created_at)
        return Checkpoint(
            checkpoint_id=uuid.uuid4(),
            seq=seq,
            hash=chain_hash,
            created_at=created_at,
            origin=self.origin,
            algorithm=self.algorithm,
            key_id=self.key_id,
            signature=self._key.sign(message),
        )

    def problem_with(self, checkpoint: Checkpoint) -> str | None:
        return self.verifier.problem_with(checkpoint)


@dataclass
class CheckpointKeys:
    """The console's checkpoint keys, as configured: the current private key (optional: without
    it nothing is signed), older public keys (rotation) and the pre-Ed25519 HMAC secret."""

    signing: SigningKey | None = None
    older: list[VerifyKey] = field(default_factory=list)
    hmac_key: str | None = None

    def signer(self, *, origin: str = DEFAULT_ORIGIN) -> CheckpointSigner | None:
        if self.signing is None:
            return None
        return CheckpointSigner(self.signing, origin=origin, older=self.older, hmac_key=self.hmac_key)

    def verifier(self) -> CheckpointVerifier:
        current = [self.signing.public] if self.signing else []
        return CheckpointVerifier([*current, *self.older], hmac_key=self.hmac_key)

    def public_document(self) -> dict[str, Any]:
        """What ``/.well-known/raxx-audit-keys.json`` serves and ``raxx audit checkpoint --public-key`` prints."""
        return keys_document(self.signing.public if self.signing else None, self.older)


def checkpoint_keys(secrets: SecretsProvider) -> CheckpointKeys:
    """Read the checkpoint keys from a secrets chain; refuse a configuration that is wrong.

    ``CONSOLE_AUDIT_SIGNING_KEY`` must hold an Ed25519 private key. An HMAC secret left there
    from before Ed25519 is refused with what to do, rather than silently no longer signing.
    """
    private = secrets.get(SIGNING_KEY_SECRET)
    if private and not is_private_key(private):
        raise ConfigError(
            f"{SIGNING_KEY_SECRET} holds an HMAC secret from before Ed25519 checkpoints: move that value to "
            f"{LEGACY_HMAC_SECRET} (it still verifies the old checkpoints) and set {SIGNING_KEY_SECRET} "
            f"to a new key from `raxx audit keygen`"
        )
    older = secrets.get(PUBLIC_KEYS_SETTING)
    hmac_key = secrets.get(LEGACY_HMAC_SECRET)
    if hmac_key:
        _LegacyHmac(hmac_key)  # refuses a short one now, not at the first verification
    return CheckpointKeys(
        signing=load_signing_key(private, source=SIGNING_KEY_SECRET) if private else None,
        older=parse_public_keys(older, source=PUBLIC_KEYS_SETTING) if older else [],
        hmac_key=hmac_key,
    )


def row_to_checkpoint(row: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint.from_mapping(row)


async def stored_checkpoints(engine: AsyncEngine, *, limit: int | None = None) -> list[Checkpoint]:
    async with engine.connect() as conn:
        return [row_to_checkpoint(row) for row in await repository.checkpoints(conn, limit=limit)]


def export_lines(checkpoints: Iterable[Checkpoint]) -> str:
    return "".join(cp.to_json() + "\n" for cp in checkpoints)


def read_checkpoint_file(path: Path) -> list[Checkpoint]:
    """Checkpoints from an export file (JSON Lines; blank lines ignored)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CheckpointFileError(f"cannot read checkpoint file {path}: {exc.strerror}") from None
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_mapping(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointFileError(f"{path}:{number}: not a checkpoint ({type(exc).__name__})") from None
    if not found:
        raise CheckpointFileError(f"{path} holds no checkpoint")
    return found
