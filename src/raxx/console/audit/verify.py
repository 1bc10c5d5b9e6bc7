"""Walk the chain and say whether it is intact, and if not, where and how it is not.

What is checked, in ``seq`` order (never timestamp order):

* every event's hash, recomputed from its stored columns (an **edited** event);
* every ``prev_hash`` against the previous event's hash (a **broken link**);
* ``seq`` contiguous from 1 (**missing** ranges: deleted events);
* each checkpoint given (exported file, stored table): the chain must reach its
  ``seq`` and have its hash there, else the chain was **truncated** or rewritten
  after it was signed. Without a checkpoint, deleting the newest events cannot be
  detected, and the report says so.

Exit codes of ``raxx audit verify`` (:meth:`VerifyReport.exit_code`), most severe first:
0 intact; 3 an event was edited or a link broken; 4 events are missing (gaps);
5 the chain is shorter than or differs from a checkpoint; 6 a checkpoint's signature
does not verify. (69: database unreachable, 78: configuration, as for every command.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.db import libpq_url
from raxx.console.audit import repository
from raxx.console.audit.canonical import GENESIS_HASH
from raxx.console.audit.chainwalk import (
    EXIT_BAD_CHECKPOINT,
    EXIT_EDITED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_TRUNCATED,
    VERIFY_SQL,
    CheckpointMark,
    Chunk,
    Finding,
    ProgressFn,
    VerifyReport,
    Walk,
    verify_range,
)
from raxx.console.audit.checkpoint import Checkpoint, CheckpointVerifier, stored_checkpoints

__all__ = [
    "EXIT_BAD_CHECKPOINT",
    "EXIT_EDITED",
    "EXIT_MISSING",
    "EXIT_OK",
    "EXIT_TRUNCATED",
    "VERIFY_SQL",
    "Finding",
    "VerifyReport",
    "verify_chain",
    "verify_since_last_checkpoint",
]

#: Below this many events one process verifies (starting processes costs about a second).
PARALLEL_MIN_EVENTS = 200_000


async def verify_chain(
    engine: AsyncEngine,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    stored: Sequence[Checkpoint] = (),
    verifier: CheckpointVerifier | None = None,
    start_after: tuple[int, str] | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Verify the chain (from the start, or after a trusted ``(seq, hash)`` anchor).

    ``checkpoints`` (exported, kept elsewhere) and ``stored`` (the checkpoint table)
    are compared with the chain. With a ``verifier`` (public keys only: no secret) their
    signatures are checked first: a checkpoint that fails is reported (``bad_checkpoint``)
    and not used, except a stored one signed by a key the verifier does not hold, which is
    only noted. Without one, stored checkpoints are used unchecked and the report says so.
    ``progress(done, total)`` is called as rows are checked. With ``workers`` > 1 a
    long chain is cut into seq ranges verified by that many processes (the links
    between ranges are checked when their verdicts are merged).
    """
    start_seq, start_hash = start_after or (0, GENESIS_HASH)
    report = VerifyReport(start_seq=start_seq, head_seq=start_seq, head_hash=start_hash)
    trusted = _trusted_checkpoints(report, checkpoints, verifier, other_keys_are_notes=False)
    trusted += _trusted_checkpoints(report, stored, verifier, other_keys_are_notes=True)
    if verifier is None and stored:
        report.notes.append("no public key was given: the stored checkpoints' signatures were not checked")
    report.checkpoints_checked = len(trusted)
    walk = Walk(report, _by_seq(trusted, after=start_seq), start_seq, start_hash)
    async with engine.connect() as conn:
        total = await repository.event_count(conn)
        head = await repository.head(conn)
    url = libpq_url(engine.url.render_as_string(hide_password=False))
    ranges = _ranges(start_seq, head.seq if head else start_seq, workers)
    chunks = await _run_chunks(url, ranges, walk.wanted, workers=workers, progress=progress, total=total)
    walk.wanted = {}
    for chunk in chunks:
        _merge(walk, chunk)
    _check_checkpoints_reached(walk)
    if not trusted:
        report.notes.append("no checkpoint was given: deleting the newest events cannot be detected without one")
    return report


def _ranges(start: int, head: int, workers: int) -> list[tuple[int, int]]:
    """Seq ranges ``(lo, hi]`` covering ``(start, head]``: one, or a few per worker on a long chain."""
    span = head - start
    if workers <= 1 or span < PARALLEL_MIN_EVENTS:
        return [(start, max(head, start))]
    step = -(-span // (workers * 2))
    return [(lo, min(lo + step, head)) for lo in range(start, head, step)]


async def _run_chunks(
    url: str,
    ranges: list[tuple[int, int]],
    wanted: dict[int, list[CheckpointMark]],
    *,
    workers: int,
    progress: ProgressFn | None,
    total: int,
) -> list[Chunk]:
    """Verify each range; in a thread for one range (the console keeps serving meanwhile),
    in a process pool for several (hashing is CPU-bound; threads would share one core)."""
    last_hi = ranges[-1][1]
    parts = [({s: cps for s, cps in wanted.items() if lo < s <= hi}) for lo, hi in ranges]
    beyond = {s: cps for s, cps in wanted.items() if s > last_hi}
    if len(ranges) == 1:
        lo, hi = ranges[0]
        chunk = await asyncio.to_thread(verify_range, url, lo, hi, parts[0], progress, total)
        chunk.leftover.update(beyond)
        return [chunk]
    loop = asyncio.get_running_loop()
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            loop.run_in_executor(pool, verify_range, url, lo, hi, part)
            for (lo, hi), part in zip(ranges, parts, strict=True)
        ]
        for finished in asyncio.as_completed(futures):
            done += (await finished).count
            if progress:
                progress(done, max(total, done))
        chunks = [await future for future in futures]
    chunks[-1].leftover.update(beyond)
    return chunks


def _merge(walk: Walk, chunk: Chunk) -> None:
    """Fold one range's verdict into the report, checking the link from the range before it."""
    report = walk.report
    if chunk.first is not None and chunk.last is not None:
        seq, prev_hash = chunk.first
        if seq != walk.last_seq + 1:
            report.add(Finding("missing", walk.last_seq + 1, f"{seq - walk.last_seq - 1} event(s) absent", seq - 1))
        elif prev_hash != walk.last_hash:
            report.add(Finding("broken_link", seq, "prev_hash does not match the previous event's hash"))
        walk.last_seq, walk.last_hash = chunk.last
        report.head_seq, report.head_hash = chunk.last
    for finding in chunk.findings:
        report.add(finding)
    report.finding_total += chunk.finding_total - len(chunk.findings)
    report.count += chunk.count
    walk.wanted.update(chunk.leftover)


def _trusted_checkpoints(
    report: VerifyReport,
    checkpoints: Sequence[Checkpoint],
    verifier: CheckpointVerifier | None,
    *,
    other_keys_are_notes: bool,
) -> list[Checkpoint]:
    trusted = []
    for cp in checkpoints:
        problem = verifier.problem_with(cp) if verifier else None
        if problem and other_keys_are_notes and verifier and not verifier.holds_key_for(cp):
            report.notes.append(f"checkpoint {cp.checkpoint_id} not used: {problem}")
        elif problem:
            report.add(Finding("bad_checkpoint", cp.seq, f"checkpoint {cp.checkpoint_id}: {problem}"))
        else:
            trusted.append(cp)
    return trusted


def _by_seq(checkpoints: Sequence[Checkpoint], *, after: int) -> dict[int, list[CheckpointMark]]:
    wanted: dict[int, list[CheckpointMark]] = {}
    for cp in checkpoints:
        if cp.seq > after:
            mark = CheckpointMark(str(cp.checkpoint_id), cp.seq, cp.hash, cp.created_at)
            wanted.setdefault(cp.seq, []).append(mark)
    return wanted


def _check_checkpoints_reached(walk: Walk) -> None:
    """Checkpoints beyond the head: the newest events were deleted after they were signed."""
    head = walk.report.head_seq
    beyond = [cp for cps in walk.wanted.values() for cp in cps if cp.seq > head]
    if beyond:
        furthest = max(beyond, key=lambda cp: cp.seq)
        walk.report.add(
            Finding(
                "truncated",
                head + 1,
                f"chain ends at seq {head} but a checkpoint of {furthest.created_at:%Y-%m-%d %H:%M:%S}Z "
                f"signed seq {furthest.seq}: the newest events were deleted",
                furthest.seq,
            )
        )
    for seq, cps in walk.wanted.items():
        if seq <= head:
            # The checkpointed row itself is gone (inside a missing range, already reported).
            for cp in cps:
                walk.report.add(Finding("diverged", seq, f"the event checkpoint {cp.checkpoint_id} signed is gone"))


async def verify_since_last_checkpoint(engine: AsyncEngine, verifier: CheckpointVerifier) -> VerifyReport:
    """Incremental verify: from the newest stored checkpoint whose signature and anchor hold.

    Used before signing a new checkpoint, so periodic checkpoints stay cheap on a long chain.
    Falls back to a full walk when no stored checkpoint can serve as the anchor.
    """
    trusted = [cp for cp in await stored_checkpoints(engine, limit=5) if not verifier.problem_with(cp)]
    for cp in trusted:
        if cp.seq == 0:
            break
        async with engine.connect() as conn:
            anchored = await repository.hash_at(conn, cp.seq) == cp.hash
        if anchored:
            return await verify_chain(engine, stored=trusted, verifier=verifier, start_after=(cp.seq, cp.hash))
    return await verify_chain(engine, stored=trusted, verifier=verifier)
