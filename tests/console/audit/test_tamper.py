"""Tampering through a superuser connection is found by verify; tail deletion only with a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit.checkpoint import CheckpointSigner, export_lines, read_checkpoint_file
from raxx.console.audit.checkpointer import create_checkpoint
from raxx.console.audit.keys import KeyFormatError, SigningKey, load_signing_key
from raxx.console.audit.service import AuditTrail
from raxx.console.audit.verify import (
    EXIT_BAD_CHECKPOINT,
    EXIT_EDITED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_TRUNCATED,
    verify_chain,
)
from tests.console.audit.helpers import SIGNING_KEY, audit_context, tamper


async def _fill(trail: AuditTrail, pairs: int) -> None:
    for n in range(pairs):
        async with trail.action(audit_context(request_id=f"req-{n}"), "order.cancel", target=f"ord-{n}"):
            pass


async def test_an_edited_event_is_found_with_its_seq(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 5)
    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET environment = 'prod' WHERE seq = 4")
    report = await verify_chain(runtime_engine)
    assert not report.ok
    assert report.first_broken_seq == 4
    assert [(f.kind, f.seq) for f in report.findings] == [("edited", 4)]
    assert report.exit_code() == EXIT_EDITED


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 3)
    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET hash = repeat('a', 64) WHERE seq = 2")
    report = await verify_chain(runtime_engine)
    assert [(f.kind, f.seq) for f in report.findings] == [("edited", 2), ("broken_link", 3)]
    assert report.first_broken_seq == 2


async def test_params_edit_is_found_whatever_jsonb_does_to_key_order(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await trail.record(audit_context(), "order.place", outcome="ok", params={"qty": 10, "symbol": "AAPL"})
    await trail.record(audit_context(), "order.place", outcome="ok", params={"qty": 5, "symbol": "MSFT"})
    assert (await verify_chain(runtime_engine)).ok
    with tamper(superuser_url) as conn:
        conn.execute("""UPDATE audit_event SET params = '{"symbol": "MSFT", "qty": 500}' WHERE seq = 2""")
    report = await verify_chain(runtime_engine)
    assert [(f.kind, f.seq) for f in report.findings] == [("edited", 2)]


async def test_deleting_from_the_middle_reports_the_missing_range(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 5)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq BETWEEN 4 AND 6")
    report = await verify_chain(runtime_engine)
    assert report.missing_ranges() == [(4, 6)]
    assert report.first_broken_seq == 4
    assert report.exit_code() == EXIT_MISSING
    assert report.count == 7


async def test_deleting_the_first_events_is_a_missing_range_too(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 2)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq <= 2")
    report = await verify_chain(runtime_engine)
    assert report.missing_ranges() == [(1, 2)]


async def test_tail_deletion_is_invisible_without_a_checkpoint(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 5)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq > 7")
    report = await verify_chain(runtime_engine)
    # A shorter chain is still a valid chain: that is what checkpoints are for, and verify says so.
    assert report.ok
    assert report.head_seq == 7
    assert any("cannot be detected" in note for note in report.notes)


async def test_tail_deletion_is_found_against_an_exported_checkpoint(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str, signer: CheckpointSigner, tmp_path: Path
) -> None:
    await _fill(trail, 5)
    exported = tmp_path / "checkpoints.jsonl"
    exported.write_text(export_lines([await create_checkpoint(runtime_engine, signer)]))
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq > 7")
        conn.execute("DELETE FROM audit_checkpoint")  # the attacker cleans up the database copy too
    report = await verify_chain(runtime_engine, checkpoints=read_checkpoint_file(exported), verifier=signer.verifier)
    assert not report.ok
    assert report.exit_code() == EXIT_TRUNCATED
    (finding,) = report.findings
    assert (finding.kind, finding.seq, finding.until_seq) == ("truncated", 8, 10)
    assert "newest events were deleted" in finding.detail


async def test_tail_deletion_then_new_appends_diverge_from_the_checkpoint(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str, signer: CheckpointSigner
) -> None:
    await _fill(trail, 3)
    checkpoint = await create_checkpoint(runtime_engine, signer)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq > 4")
    await _fill(trail, 2)  # the chain grows past the checkpoint again, with other events
    report = await verify_chain(runtime_engine, checkpoints=[checkpoint], verifier=signer.verifier)
    assert [(f.kind, f.seq) for f in report.findings] == [("diverged", 6)]
    assert report.exit_code() == EXIT_TRUNCATED


async def test_stored_checkpoints_count_too(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str, signer: CheckpointSigner
) -> None:
    await _fill(trail, 2)
    checkpoint = await create_checkpoint(runtime_engine, signer)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = 4")
    report = await verify_chain(runtime_engine, stored=[checkpoint], verifier=signer.verifier)
    assert [f.kind for f in report.findings] == ["truncated"]


async def test_a_rewritten_chain_cannot_match_a_checkpoint_signed_with_a_key_it_lacks(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str, signer: CheckpointSigner, tmp_path: Path
) -> None:
    await _fill(trail, 2)
    checkpoint = await create_checkpoint(runtime_engine, signer)
    # The attacker forges a checkpoint for their own chain, without the signing key.
    forged = json.loads(checkpoint.to_json()) | {"hash": "b" * 64}
    path = tmp_path / "forged.jsonl"
    path.write_text(json.dumps(forged) + "\n")
    report = await verify_chain(runtime_engine, checkpoints=read_checkpoint_file(path), verifier=signer.verifier)
    assert [f.kind for f in report.findings] == ["bad_checkpoint"]
    assert report.exit_code() == EXIT_BAD_CHECKPOINT
    other = CheckpointSigner(SigningKey.generate())
    report = await verify_chain(runtime_engine, checkpoints=[checkpoint], verifier=other.verifier)
    assert f"signed with key {checkpoint.key_id}, whose public key was not given" in report.findings[0].detail


async def test_several_problems_report_the_first_broken_seq_and_the_most_severe_code(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    await _fill(trail, 5)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = 3")
        conn.execute("UPDATE audit_event SET target = 'ord-x' WHERE seq = 8")
    report = await verify_chain(runtime_engine)
    assert report.first_broken_seq == 3
    assert {f.kind for f in report.findings} == {"missing", "edited"}
    assert report.exit_code() == EXIT_EDITED
    assert report.summary().startswith("BROKEN: first broken seq 3")


@pytest.mark.parametrize("pairs", [0, 1])
async def test_intact_chain_exit_code_is_zero(trail: AuditTrail, runtime_engine: AsyncEngine, pairs: int) -> None:
    await _fill(trail, pairs)
    assert (await verify_chain(runtime_engine)).exit_code() == EXIT_OK


def test_the_signing_key_must_be_an_ed25519_private_key() -> None:
    for wrong in ("short", "ed25519-private:AAAA", SigningKey.generate().public.compact()):
        with pytest.raises(KeyFormatError, match="is not an Ed25519 private key"):
            load_signing_key(wrong, source="CONSOLE_AUDIT_SIGNING_KEY")
    key = load_signing_key(SIGNING_KEY, source="CONSOLE_AUDIT_SIGNING_KEY")
    assert key.key_id == load_signing_key(SIGNING_KEY, source="x").key_id == key.public.key_id


async def test_parallel_verify_finds_the_same_problems_across_range_boundaries(
    trail: AuditTrail,
    runtime_engine: AsyncEngine,
    superuser_url: str,
    signer: CheckpointSigner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import raxx.console.audit.verify as verify_module

    await _fill(trail, 15)  # 30 events
    checkpoint = await create_checkpoint(runtime_engine, signer)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN_EVENTS", 4)  # cut 30 events into 4 ranges of 8
    parallel = await verify_chain(runtime_engine, checkpoints=[checkpoint], verifier=signer.verifier, workers=2)
    assert parallel.ok, parallel.summary()
    assert (parallel.count, parallel.head_seq) == (30, 30)
    with tamper(superuser_url) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq IN (9, 10)")  # straddles the first boundary
        conn.execute("UPDATE audit_event SET hash = repeat('c', 64) WHERE seq = 16")  # a range's last row
        conn.execute("UPDATE audit_event SET action = 'order.place' WHERE seq = 21")
        conn.execute("DELETE FROM audit_event WHERE seq > 28")
    single = await verify_chain(runtime_engine, checkpoints=[checkpoint], verifier=signer.verifier)
    parallel = await verify_chain(runtime_engine, checkpoints=[checkpoint], verifier=signer.verifier, workers=2)
    expected = [("missing", 9), ("edited", 16), ("broken_link", 17), ("edited", 21), ("truncated", 29)]
    assert [(f.kind, f.seq) for f in single.findings] == expected
    assert [(f.kind, f.seq) for f in parallel.findings] == expected
    assert (parallel.count, parallel.head_seq, parallel.head_hash) == (single.count, single.head_seq, single.head_hash)
