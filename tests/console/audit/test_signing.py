"""Ed25519 checkpoints: anyone with the public key verifies, nobody without the private key forges;
key rotation; checkpoints from the HMAC days; the console's key configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.errors import ConfigError
from raxx.common.secrets import EnvironSecrets
from raxx.console.audit.checkpoint import (
    LEGACY_ALGORITHM,
    Checkpoint,
    CheckpointSigner,
    CheckpointVerifier,
    checkpoint_keys,
    signed_message,
)
from raxx.console.audit.checkpointer import create_checkpoint
from raxx.console.audit.keys import KeyFormatError, SigningKey, parse_public_keys
from raxx.console.audit.service import AuditTrail
from raxx.console.audit.verify import EXIT_BAD_CHECKPOINT, EXIT_OK, verify_chain
from tests.console.audit.helpers import LEGACY_HMAC_KEY, SIGNING_KEY, audit_context


def _legacy_checkpoint(seq: int, chain_hash: str, *, key: str = LEGACY_HMAC_KEY) -> Checkpoint:
    """A checkpoint as the console signed them before Ed25519 (HMAC-SHA256, key id from the secret)."""
    created = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    message = signed_message("raxx.console.audit", seq, chain_hash, created)
    raw = key.encode()
    return Checkpoint(
        checkpoint_id=uuid.uuid4(),
        seq=seq,
        hash=chain_hash,
        created_at=created,
        origin="raxx.console.audit",
        algorithm=LEGACY_ALGORITHM,
        key_id=hashlib.sha256(b"raxx.audit.key-id\n" + raw).hexdigest()[:16],
        signature=hmac.new(raw, message, hashlib.sha256).hexdigest(),
    )


def test_a_checkpoint_verifies_with_the_public_key_alone_and_cannot_be_forged_with_it() -> None:
    key = SigningKey.generate()
    made = CheckpointSigner(key).checkpoint(7, "a" * 64, datetime.now(UTC))
    assert made.algorithm == "ed25519"
    assert made.key_id == key.public.key_id == hashlib.sha256(key.public.raw).hexdigest()[:16]
    (public,) = parse_public_keys(key.public.compact(), source="test")  # all an outside verifier holds
    verifier = CheckpointVerifier([public])
    assert verifier.problem_with(made) is None
    # What the holder of the public key (or of the HMAC-era secret) could try: both fail.
    moved = Checkpoint(**{**made.__dict__, "seq": 9})
    assert verifier.problem_with(moved) == "signature does not match its contents"
    mac = hmac.new(public.raw, made.message(), hashlib.sha256).hexdigest()
    assert verifier.problem_with(Checkpoint(**{**made.__dict__, "signature": mac})) is not None


def test_public_keys_read_from_pem_compact_and_the_keys_document() -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    document = json.dumps(
        checkpoint_keys(
            EnvironSecrets(
                {"CONSOLE_AUDIT_SIGNING_KEY": second.compact(), "CONSOLE_AUDIT_PUBLIC_KEYS": first.public.compact()}
            )
        ).public_document()
    )
    pem = first.public.pem() + second.public.pem()
    compact = f"{first.public.compact()}, {second.public.compact()}"
    assert [k.key_id for k in parse_public_keys(document, source="t")] == [second.key_id, first.key_id]
    for text in (pem, compact):
        assert [k.key_id for k in parse_public_keys(text, source="t")] == [first.key_id, second.key_id]
    statuses = [(k["key_id"], k["status"]) for k in json.loads(document)["keys"]]
    assert statuses == [(second.key_id, "current"), (first.key_id, "retired")]
    tampered = json.loads(document)
    tampered["keys"][0]["key_id"] = first.key_id
    with pytest.raises(KeyFormatError, match="does not match its public key"):
        parse_public_keys(json.dumps(tampered), source="t")
    with pytest.raises(KeyFormatError, match="holds no Ed25519 public key"):
        parse_public_keys("   ", source="t")


async def test_after_a_rotation_old_and_new_checkpoints_verify_with_the_published_keys(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    await trail.record(audit_context(), "auth.login", outcome="ok")
    before = await create_checkpoint(runtime_engine, CheckpointSigner(old))
    await trail.record(audit_context(), "auth.logout", outcome="ok")
    rotated = checkpoint_keys(
        EnvironSecrets({"CONSOLE_AUDIT_SIGNING_KEY": new.compact(), "CONSOLE_AUDIT_PUBLIC_KEYS": old.public.compact()})
    )
    signer = rotated.signer()
    assert signer is not None
    after = await create_checkpoint(runtime_engine, signer)  # verifies the chain from `before` first
    assert (before.key_id, after.key_id) == (old.key_id, new.key_id)
    published = parse_public_keys(json.dumps(rotated.public_document()), source="the console's document")
    report = await verify_chain(runtime_engine, checkpoints=[before, after], verifier=CheckpointVerifier(published))
    assert report.exit_code() == EXIT_OK, report.summary()
    assert report.checkpoints_checked == 2
    # A verifier given only the new key: the stored old checkpoint is noted, an exported one is refused.
    only_new = CheckpointVerifier([new.public])
    stored = await verify_chain(runtime_engine, stored=[before], verifier=only_new)
    assert stored.ok
    assert any(f"signed with key {old.key_id}, whose public key was not given" in n for n in stored.notes)
    exported = await verify_chain(runtime_engine, checkpoints=[before], verifier=only_new)
    assert exported.exit_code() == EXIT_BAD_CHECKPOINT


async def test_hmac_checkpoints_from_before_ed25519_verify_only_with_the_old_secret(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    await trail.record(audit_context(), "auth.login", outcome="ok")
    head = await verify_chain(runtime_engine)
    legacy = _legacy_checkpoint(head.head_seq, head.head_hash)
    public = SigningKey.generate().public
    with_secret = await verify_chain(
        runtime_engine, checkpoints=[legacy], verifier=CheckpointVerifier([public], hmac_key=LEGACY_HMAC_KEY)
    )
    assert with_secret.exit_code() == EXIT_OK
    assert with_secret.checkpoints_checked == 1
    without = await verify_chain(runtime_engine, checkpoints=[legacy], verifier=CheckpointVerifier([public]))
    assert without.exit_code() == EXIT_BAD_CHECKPOINT
    assert "verifiable only with the old secret CONSOLE_AUDIT_HMAC_KEY" in without.findings[0].detail
    stored = await verify_chain(runtime_engine, stored=[legacy], verifier=CheckpointVerifier([public]))
    assert stored.ok
    assert any("HMAC checkpoint" in note for note in stored.notes)


def test_the_console_refuses_an_hmac_secret_left_as_its_signing_key() -> None:
    with pytest.raises(ConfigError, match="move that value to CONSOLE_AUDIT_HMAC_KEY"):
        checkpoint_keys(EnvironSecrets({"CONSOLE_AUDIT_SIGNING_KEY": LEGACY_HMAC_KEY}))
    with pytest.raises(ConfigError, match="CONSOLE_AUDIT_HMAC_KEY must be at least 32 bytes"):
        checkpoint_keys(EnvironSecrets({"CONSOLE_AUDIT_SIGNING_KEY": SIGNING_KEY, "CONSOLE_AUDIT_HMAC_KEY": "x"}))
    keys = checkpoint_keys(EnvironSecrets({"CONSOLE_AUDIT_SIGNING_KEY": SIGNING_KEY}))
    assert keys.signer() is not None
    assert checkpoint_keys(EnvironSecrets({})).signer() is None


def test_raxx_up_moves_an_old_hmac_secret_aside_and_generates_an_ed25519_key(tmp_path: Path) -> None:
    from raxx.local.provision import LocalSecrets, ensure_checkpoint_key

    store = LocalSecrets(tmp_path / "secrets.env")
    store.set("CONSOLE_AUDIT_SIGNING_KEY", LEGACY_HMAC_KEY)
    ensure_checkpoint_key(store)
    again = LocalSecrets(tmp_path / "secrets.env")
    ensure_checkpoint_key(again)
    keys = checkpoint_keys(EnvironSecrets(again.values))
    assert again.values["CONSOLE_AUDIT_HMAC_KEY"] == LEGACY_HMAC_KEY
    assert keys.signing is not None
    assert again.values["CONSOLE_AUDIT_SIGNING_KEY"] == store.values["CONSOLE_AUDIT_SIGNING_KEY"]  # kept
