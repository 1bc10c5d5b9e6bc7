"""Checkpoints: signed, stored, exported; the periodic task; incremental verification from one."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit.canonical import GENESIS_HASH, PG_TIMESTAMP_FORMAT
from raxx.console.audit.checkpoint import CheckpointSigner, export_lines, read_checkpoint_file, stored_checkpoints
from raxx.console.audit.checkpointer import create_checkpoint, run_periodic_checkpoints
from raxx.console.audit.service import AuditTrail
from raxx.console.audit.verify import VERIFY_SQL, verify_since_last_checkpoint
from tests.console.audit.helpers import audit_context, tamper


async def test_checkpoint_of_the_empty_chain_is_the_genesis(
    runtime_engine: AsyncEngine, signer: CheckpointSigner
) -> None:
    checkpoint = await create_checkpoint(runtime_engine, signer)
    assert (checkpoint.seq, checkpoint.hash) == (0, GENESIS_HASH)
    assert signer.problem_with(checkpoint) is None


async def test_exported_checkpoints_round_trip_and_keep_their_signature(
    trail: AuditTrail, runtime_engine: AsyncEngine, signer: CheckpointSigner, tmp_path: Path
) -> None:
    await trail.record(audit_context(), "auth.login", outcome="ok")
    made = await create_checkpoint(runtime_engine, signer)
    path = tmp_path / "cp.jsonl"
    path.write_text(export_lines([made]))
    (read,) = read_checkpoint_file(path)
    assert read == made
    assert signer.problem_with(read) is None
    assert await stored_checkpoints(runtime_engine) == [made]


async def test_periodic_task_signs_while_idle(runtime_engine: AsyncEngine, signer: CheckpointSigner) -> None:
    task = asyncio.create_task(run_periodic_checkpoints(runtime_engine, signer, interval=timedelta(seconds=0.05)))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len(await stored_checkpoints(runtime_engine)) >= 2:
            break
    task.cancel()
    checkpoints = await stored_checkpoints(runtime_engine)
    assert len(checkpoints) >= 2
    assert {cp.seq for cp in checkpoints} == {0}


async def test_incremental_verify_starts_at_the_last_checkpoint_and_still_catches_later_edits(
    trail: AuditTrail, runtime_engine: AsyncEngine, signer: CheckpointSigner, superuser_url: str
) -> None:
    for _ in range(4):
        await trail.record(audit_context(), "auth.login", outcome="ok")
    await create_checkpoint(runtime_engine, signer)
    for _ in range(3):
        await trail.record(audit_context(), "auth.logout", outcome="ok")
    report = await verify_since_last_checkpoint(runtime_engine, signer.verifier)
    assert report.ok
    assert (report.start_seq, report.count, report.head_seq) == (4, 3, 7)
    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET outcome = 'denied' WHERE seq = 6")
    report = await verify_since_last_checkpoint(runtime_engine, signer.verifier)
    assert [(f.kind, f.seq) for f in report.findings] == [("edited", 6)]


def test_verify_reads_timestamps_in_the_canonical_format() -> None:
    assert VERIFY_SQL.count(PG_TIMESTAMP_FORMAT) == 2
