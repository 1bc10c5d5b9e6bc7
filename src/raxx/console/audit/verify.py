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
import hashlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.db import libpq_url
from raxx.console.audit import repository
from raxx.console.audit.canonical import BODY_VERSION, GENESIS_HASH, HASH_DOMAIN
from raxx.console.audit.checkpoint import Checkpoint, CheckpointSigner, stored_checkpoints

EXIT_OK = 0
EXIT_EDITED = 3
EXIT_MISSING = 4
EXIT_TRUNCATED = 5
EXIT_BAD_CHECKPOINT = 6

MAX_FINDINGS = 100
BATCH_SIZE = 5000
#: Below this many events one process verifies (starting processes costs about a second).
PARALLEL_MIN_EVENTS = 200_000

# Text straight from the server (seq and http_status as ints): nothing else becomes a Python type
# except params, so nothing is rounded or reformatted on the way to the hash.
# Timestamps use canonical.PG_TIMESTAMP_FORMAT (a test pins the two together).
VERIFY_SQL = """
SELECT seq, prev_hash, hash,
       to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       event_id::text,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_id::text, actor_name, session_hash, environment, action, target, params::text, phase, outcome,
       attempt_id::text, http_status, error, request_id, client_ip, user_agent
FROM audit_event WHERE seq > {start} AND seq <= {end} ORDER BY seq
"""


@dataclass
class _Chunk:
    """The verdict on the rows with ``lo < seq <= hi``, as one worker saw them (picklable).

    Its first row's own links are not checked here: only the merge knows what came before.
    """

    first: tuple[int, str] | None = None  # (seq, prev_hash) of the first row
    last: tuple[int, str] | None = None  # (seq, hash) of the last row
    count: int = 0
    findings: list[Finding] = field(default_factory=list)
    finding_total: int = 0
    leftover: dict[int, list[Checkpoint]] = field(default_factory=dict)


def _verify_chunk(
    url: str, lo: int, hi: int, wanted: dict[int, list[Checkpoint]], progress: ProgressFn | None = None, total: int = 0
) -> _Chunk:
    chunk = _Chunk()
    report = VerifyReport()
    walk = _Walk(report, wanted, lo, GENESIS_HASH)
    with psycopg.connect(url, connect_timeout=5, application_name="raxx-audit-verify") as pg:
        for rows in _stream_rows(pg, lo, hi):
            if chunk.first is None:
                chunk.first = (rows[0][0], rows[0][1])
                walk.last_seq, walk.last_hash = rows[0][0] - 1, rows[0][1]
            _check_rows(walk, rows)
            if progress:
                progress(report.count, max(total, report.count))
    if chunk.first is not None:
        chunk.last = (walk.last_seq, walk.last_hash)
    chunk.count, chunk.findings, chunk.finding_total = report.count, report.findings, report.finding_total
    chunk.leftover = walk.wanted
    return chunk


def _stream_rows(pg: psycopg.Connection[Any], lo: int, hi: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in batches through a server-side cursor, the next batch fetched while this one is hashed.

    Why a cursor and not COPY: psycopg's C loaders build each row's tuple in ~3 µs, where
    splitting and unescaping COPY text in Python cost ~10 µs a row, the largest single cost
    of a verify (``bench/README.md``). Why the prefetch thread: PostgreSQL formats the next
    batch while this process hashes the previous one, as COPY's streaming did.
    """
    with pg.transaction(), pg.cursor(name="raxx_audit_verify") as cur:
        cur.execute(VERIFY_SQL.format(start=int(lo), end=int(hi)))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify-fetch") as fetcher:
            pending = fetcher.submit(cur.fetchmany, BATCH_SIZE)
            while rows := pending.result():
                pending = fetcher.submit(cur.fetchmany, BATCH_SIZE)
                yield rows


ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Finding:
    """One problem. ``kind``: edited, broken_link, missing, truncated, diverged, bad_checkpoint."""

    kind: str
    seq: int
    detail: str
    until_seq: int | None = None

    def describe(self) -> str:
        where = f"seq {self.seq}" if self.until_seq in (None, self.seq) else f"seq {self.seq}-{self.until_seq}"
        return f"{self.kind} at {where}: {self.detail}"


_EXIT_OF_KIND = {
    "edited": EXIT_EDITED,
    "broken_link": EXIT_EDITED,
    "missing": EXIT_MISSING,
    "truncated": EXIT_TRUNCATED,
    "diverged": EXIT_TRUNCATED,
    "bad_checkpoint": EXIT_BAD_CHECKPOINT,
}


@dataclass
class VerifyReport:
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    start_seq: int = 0
    findings: list[Finding] = field(default_factory=list)
    finding_total: int = 0
    checkpoints_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.finding_total == 0

    @property
    def first_broken_seq(self) -> int | None:
        seqs = [f.seq for f in self.findings if f.kind in ("edited", "broken_link", "missing", "diverged")]
        return min(seqs) if seqs else None

    def exit_code(self) -> int:
        if self.ok:
            return EXIT_OK
        return min(_EXIT_OF_KIND[f.kind] for f in self.findings)

    def missing_ranges(self) -> list[tuple[int, int]]:
        return [(f.seq, f.until_seq or f.seq) for f in self.findings if f.kind == "missing"]

    def add(self, finding: Finding) -> None:
        self.finding_total += 1
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.count} events, head seq {self.head_seq} hash {self.head_hash}"
        first = self.first_broken_seq
        lead = f"first broken seq {first}; " if first is not None else ""
        return f"BROKEN: {lead}{self.finding_total} problem(s); {self.findings[0].describe()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_broken_seq": self.first_broken_seq,
            "missing_ranges": self.missing_ranges(),
            "problems": self.finding_total,
            "findings": [f.describe() for f in self.findings[:20]],
            "checkpoints_checked": self.checkpoints_checked,
        }


@dataclass
class _Walk:
    """State of one pass over the chain."""

    report: VerifyReport
    wanted: dict[int, list[Checkpoint]]
    last_seq: int
    last_hash: str


async def verify_chain(
    engine: AsyncEngine,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    stored: Sequence[Checkpoint] = (),
    signer: CheckpointSigner | None = None,
    start_after: tuple[int, str] | None = None,
    progress: ProgressFn | None = None,
    workers: int = 1,
) -> VerifyReport:
    """Verify the chain (from the start, or after a trusted ``(seq, hash)`` anchor).

    ``checkpoints`` (exported, kept elsewhere) and ``stored`` (the checkpoint table)
    are compared with the chain. With a ``signer`` their signatures are checked first:
    a checkpoint that fails is reported (``bad_checkpoint``) and not used, except a
    stored one signed by another (rotated) key, which is only noted.
    ``progress(done, total)`` is called as rows are checked. With ``workers`` > 1 a
    long chain is cut into seq ranges verified by that many processes (the links
    between ranges are checked when their verdicts are merged).
    """
    start_seq, start_hash = start_after or (0, GENESIS_HASH)
    report = VerifyReport(start_seq=start_seq, head_seq=start_seq, head_hash=start_hash)
    trusted = _trusted_checkpoints(report, checkpoints, signer, other_keys_are_notes=False)
    trusted += _trusted_checkpoints(report, stored, signer, other_keys_are_notes=True)
    report.checkpoints_checked = len(trusted)
    walk = _Walk(report, _by_seq(trusted, after=start_seq), start_seq, start_hash)
    async with engine.connect() as conn:
        total = await repository.event_count(conn)
        head = await repository.head(conn)
    url = libpq_url(engine.url.render_as_string(hide_password=False))
    ranges = _ranges(start_seq, head.seq if head else start_seq, workers)
    chunks = await _run_chunks(url, ranges, walk.wanted, workers=workers, progress=progress, total=total)
    walk.wanted = {}
    for chunk in chunks:
        _merge(walk, chunk)
    _check_checkpoints_reached(walk, trusted)
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
    wanted: dict[int, list[Checkpoint]],
    *,
    workers: int,
    progress: ProgressFn | None,
    total: int,
) -> list[_Chunk]:
    """Verify each range; in a thread for one range (the console keeps serving meanwhile),
    in a process pool for several (hashing is CPU-bound; threads would share one core)."""
    last_hi = ranges[-1][1]
    parts = [({s: cps for s, cps in wanted.items() if lo < s <= hi}) for lo, hi in ranges]
    beyond = {s: cps for s, cps in wanted.items() if s > last_hi}
    if len(ranges) == 1:
        lo, hi = ranges[0]
        chunk = await asyncio.to_thread(_verify_chunk, url, lo, hi, parts[0], progress, total)
        chunk.leftover.update(beyond)
        return [chunk]
    loop = asyncio.get_running_loop()
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [
            loop.run_in_executor(pool, _verify_chunk, url, lo, hi, part)
            for (lo, hi), part in zip(ranges, parts, strict=True)
        ]
        for finished in asyncio.as_completed(futures):
            done += (await finished).count
            if progress:
                progress(done, max(total, done))
        chunks = [await future for future in futures]
    chunks[-1].leftover.update(beyond)
    return chunks


def _merge(walk: _Walk, chunk: _Chunk) -> None:
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
    signer: CheckpointSigner | None,
    *,
    other_keys_are_notes: bool,
) -> list[Checkpoint]:
    trusted = []
    for cp in checkpoints:
        problem = signer.problem_with(cp) if signer else None
        if problem and other_keys_are_notes and signer and cp.key_id != signer.key_id:
            report.notes.append(f"checkpoint {cp.checkpoint_id} was signed by another key ({cp.key_id}); not used")
        elif problem:
            report.add(Finding("bad_checkpoint", cp.seq, f"checkpoint {cp.checkpoint_id}: {problem}"))
        else:
            trusted.append(cp)
    return trusted


def _by_seq(checkpoints: Sequence[Checkpoint], *, after: int) -> dict[int, list[Checkpoint]]:
    wanted: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        if cp.seq > after:
            wanted.setdefault(cp.seq, []).append(cp)
    return wanted


def _check_rows(walk: _Walk, rows: Sequence[Sequence[Any]]) -> None:
    """The hot loop: about 1M rows in a few seconds, so locals and no per-row allocations beyond the body."""
    report, wanted = walk.report, walk.wanted
    last_seq, last_hash = walk.last_seq, walk.last_hash
    dumps, loads, sort_keys = orjson.dumps, orjson.loads, orjson.OPT_SORT_KEYS
    sha256 = hashlib.sha256
    for row in rows:
        seq, prev_hash, stored_hash, recorded_at = row[0], row[1], row[2], row[3]
        if seq != last_seq + 1:
            report.add(Finding("missing", last_seq + 1, f"{seq - last_seq - 1} event(s) absent", seq - 1))
        elif prev_hash != last_hash:
            report.add(Finding("broken_link", seq, "prev_hash does not match the previous event's hash"))
        body = dumps(
            {
                "v": BODY_VERSION,
                "event_id": row[4],
                "occurred_at": row[5],
                "actor_id": row[6],
                "actor_name": row[7],
                "session_hash": row[8],
                "environment": row[9],
                "action": row[10],
                "target": row[11],
                "params": loads(row[12]),
                "phase": row[13],
                "outcome": row[14],
                "attempt_id": row[15],
                "http_status": row[16],
                "error": row[17],
                "request_id": row[18],
                "client_ip": row[19],
                "user_agent": row[20],
            },
            option=sort_keys,
        )
        digest = sha256(f"{HASH_DOMAIN}\n{prev_hash}\n{seq}\n{recorded_at}\n".encode())
        digest.update(body)
        if digest.hexdigest() != stored_hash:
            report.add(Finding("edited", seq, "stored content does not match its hash"))
        if seq in wanted:
            _compare_checkpoints(report, wanted.pop(seq), stored_hash)
        last_seq, last_hash = seq, stored_hash
        report.count += 1
    walk.last_seq, walk.last_hash = last_seq, last_hash
    report.head_seq, report.head_hash = last_seq, last_hash


def _compare_checkpoints(report: VerifyReport, checkpoints: list[Checkpoint], stored_hash: str) -> None:
    for cp in checkpoints:
        if cp.hash != stored_hash:
            report.add(Finding("diverged", cp.seq, f"differs from checkpoint of {cp.created_at:%Y-%m-%d %H:%M:%S}Z"))


def _check_checkpoints_reached(walk: _Walk, trusted: Sequence[Checkpoint]) -> None:
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


async def verify_since_last_checkpoint(engine: AsyncEngine, signer: CheckpointSigner) -> VerifyReport:
    """Incremental verify: from the newest stored checkpoint whose signature and anchor hold.

    Used before signing a new checkpoint, so periodic checkpoints stay cheap on a long chain.
    Falls back to a full walk when no stored checkpoint can serve as the anchor.
    """
    trusted = [cp for cp in await stored_checkpoints(engine, limit=5) if not signer.problem_with(cp)]
    for cp in trusted:
        if cp.seq == 0:
            break
        async with engine.connect() as conn:
            anchored = await repository.hash_at(conn, cp.seq) == cp.hash
        if anchored:
            return await verify_chain(engine, stored=trusted, start_after=(cp.seq, cp.hash))
    return await verify_chain(engine, stored=trusted)
