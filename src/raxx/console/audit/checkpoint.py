"""Signed checkpoints: "the chain had hash H at seq N", signed with a key the database never sees.

A hash chain cannot show that its newest events were deleted (the shorter chain is
still valid). A checkpoint kept somewhere else can: verify finds the chain shorter
than, or different from, what was signed. Signatures are HMAC-SHA256 with the secret
``CONSOLE_AUDIT_SIGNING_KEY``; ``key_id`` (a hash of the key) says which key signed,
so a rotated key is reported as such rather than as tampering.

The signed message (C2SP-checkpoint-like, one field per line)::

    raxx.audit.checkpoint.v1
    <origin>
    <seq>
    <hash>
    <created_at as YYYY-MM-DDTHH:MM:SS.ffffffZ>
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.clock import Clock, SystemClock
from raxx.common.errors import ConfigError, RaxxError
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.audit.canonical import GENESIS_HASH, format_timestamp

log = logging.getLogger("raxx.console.audit.checkpoint")

SIGNING_KEY_SECRET = "CONSOLE_AUDIT_SIGNING_KEY"  # noqa: S105 (the name of the secret, not a value)
ALGORITHM = "hmac-sha256"
DEFAULT_ORIGIN = "raxx.console.audit"
MIN_KEY_BYTES = 32
MESSAGE_HEADER = "raxx.audit.checkpoint.v1"


class CheckpointFileError(RaxxError):
    """An exported checkpoint file that cannot be read."""

    code = "checkpoint_file_invalid"
    exit_code = 6


class ChainNotSignable(RaxxError):
    """The chain does not verify since the last checkpoint, so no new checkpoint is signed."""

    status_code = 409
    code = "audit_chain_broken"
    exit_code = 3


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


class CheckpointSigner:
    """HMAC-SHA256 over the checkpoint message, with a key of at least 32 bytes."""

    algorithm = ALGORITHM

    def __init__(self, key: str | bytes, *, origin: str = DEFAULT_ORIGIN) -> None:
        raw = key.encode() if isinstance(key, str) else key
        if len(raw) < MIN_KEY_BYTES:
            raise ConfigError(f"{SIGNING_KEY_SECRET} must be at least {MIN_KEY_BYTES} bytes long")
        self._key = raw
        self.origin = origin
        self.key_id = hashlib.sha256(b"raxx.audit.key-id\n" + raw).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

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
            signature=self.sign(message),
        )

    def problem_with(self, checkpoint: Checkpoint) -> str | None:
        """Why ``checkpoint``'s signature cannot be trusted, or None when it verifies."""
        if checkpoint.algorithm != self.algorithm:
            return f"unsupported algorithm {checkpoint.algorithm!r}"
        if checkpoint.key_id != self.key_id:
            return f"signed with another key (key id {checkpoint.key_id}, ours is {self.key_id})"
        if not hmac.compare_digest(self.sign(checkpoint.message()), checkpoint.signature):
            return "signature does not match its contents"
        return None


def signer_from_secrets(secrets: Any, *, origin: str = DEFAULT_ORIGIN) -> CheckpointSigner:
    """The signer from ``CONSOLE_AUDIT_SIGNING_KEY`` in a :class:`raxx.common.secrets.ChainSecrets`."""
    return CheckpointSigner(secrets.require(SIGNING_KEY_SECRET), origin=origin)


def row_to_checkpoint(row: Mapping[str, Any]) -> Checkpoint:
    return Checkpoint.from_mapping(row)


async def stored_checkpoints(engine: AsyncEngine, *, limit: int | None = None) -> list[Checkpoint]:
    async with engine.connect() as conn:
        return [row_to_checkpoint(row) for row in await repository.checkpoints(conn, limit=limit)]


async def create_checkpoint(
    engine: AsyncEngine, signer: CheckpointSigner, *, clock: Clock | None = None, check: bool = True
) -> Checkpoint:
    """Verify the chain since the last good checkpoint, then sign and store its head.

    Refuses (:class:`ChainNotSignable`) when the chain does not verify: a checkpoint
    vouches for what it signs, so it never signs a broken or rewritten chain.
    """
    from raxx.console.audit.verify import verify_since_last_checkpoint

    if check:
        report = await verify_since_last_checkpoint(engine, signer)
        if not report.ok:
            raise ChainNotSignable(f"not signing a checkpoint: {report.summary()}")
    async with engine.connect() as conn:
        head = await repository.head(conn)
        checkpoint = signer.checkpoint(
            head.seq if head else 0, head.hash if head else GENESIS_HASH, (clock or SystemClock()).now()
        )
        await repository.insert_checkpoint(conn, _checkpoint_row(checkpoint))
        await conn.commit()
    log_event(log, "audit.checkpoint.ok", seq=checkpoint.seq, hash=checkpoint.hash)
    return checkpoint


def _checkpoint_row(cp: Checkpoint) -> dict[str, Any]:
    return {
        "checkpoint_id": cp.checkpoint_id,
        "seq": cp.seq,
        "hash": cp.hash,
        "created_at": cp.created_at,
        "origin": cp.origin,
        "algorithm": cp.algorithm,
        "key_id": cp.key_id,
        "signature": cp.signature,
    }


async def run_periodic_checkpoints(
    engine: AsyncEngine,
    signer: CheckpointSigner,
    *,
    interval: timedelta = timedelta(minutes=15),
    clock: Clock | None = None,
) -> None:
    """Sign a checkpoint every ``interval``, also when idle (a gap in checkpoints is itself a signal).

    Meant to run as a task in the console's lifespan; cancel it to stop. A failure is
    logged and retried at the next tick, never fatal to the console.
    """
    while True:
        try:
            await create_checkpoint(engine, signer, clock=clock)
        except RaxxError as exc:
            log_event(log, "audit.checkpoint.failed", level=logging.ERROR, detail=str(exc.detail))
        except Exception as exc:  # the loop must outlive a database restart
            log_event(log, "audit.checkpoint.failed", level=logging.ERROR, error=type(exc).__name__)
        await asyncio.sleep(interval.total_seconds())


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
