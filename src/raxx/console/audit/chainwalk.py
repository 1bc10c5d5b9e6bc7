"""The worker side of ``raxx audit verify``: stream a seq range and check every row.

Split from :mod:`raxx.console.audit.verify` so a verify worker process imports only
psycopg, orjson and the canonical form (about 0.3 s) instead of SQLAlchemy and the
console (about 1 s, paid by every spawned worker and on the critical path of a
one-million-event verify). Nothing here may import SQLAlchemy or ``raxx.console``
modules beyond :mod:`.canonical`; a test pins that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg

from raxx.console.audit.canonical import GENESIS_HASH, HASH_DOMAIN

EXIT_OK = 0
EXIT_EDITED = 3
EXIT_MISSING = 4
EXIT_TRUNCATED = 5
EXIT_BAD_CHECKPOINT = 6

MAX_FINDINGS = 100
BATCH_SIZE = 5000

# Text straight from the server (seq and http_status as ints): nothing else becomes a Python type
# except params, so nothing is rounded or reformatted on the way to the hash.
# Timestamps use canonical.PG_TIMESTAMP_FORMAT (a test pins the two together).
VERIFY_SQL = """
SELECT seq, prev_hash, hash,
       to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       event_id::text,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       actor_id::text, actor_name, session_hash, environment, action, target, params::text, phase, outcome,
       attempt_id::text, http_status, error, request_id, client_ip, user_agent,
       body_version, session_env, origin
FROM audit_event WHERE seq > {start} AND seq <= {end} ORDER BY seq
"""


@dataclass(frozen=True)
class CheckpointMark:
    """What the walk needs of a trusted checkpoint (picklable without the checkpoint module)."""

    checkpoint_id: str
    seq: int
    hash: str
    created_at: datetime


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
class Walk:
    """State of one pass over the chain."""

    report: VerifyReport
    wanted: dict[int, list[CheckpointMark]]
    last_seq: int
    last_hash: str


@dataclass
class Chunk:
    """The verdict on the rows with ``lo < seq <= hi``, as one worker saw them (picklable).

    Its first row's own links are not checked here: only the merge knows what came before.
    """

    first: tuple[int, str] | None = None  # (seq, prev_hash) of the first row
    last: tuple[int, str] | None = None  # (seq, hash) of the last row
    count: int = 0
    findings: list[Finding] = field(default_factory=list)
    finding_total: int = 0
    leftover: dict[int, list[CheckpointMark]] = field(default_factory=dict)


def verify_range(
    url: str,
    lo: int,
    hi: int,
    wanted: dict[int, list[CheckpointMark]],
    progress: ProgressFn | None = None,
    total: int = 0,
) -> Chunk:
    chunk = Chunk()
    report = VerifyReport()
    walk = Walk(report, wanted, lo, GENESIS_HASH)
    with psycopg.connect(url, connect_timeout=5, application_name="raxx-audit-verify") as pg:
        for rows in stream_rows(pg, lo, hi):
            if chunk.first is None:
                chunk.first = (rows[0][0], rows[0][1])
                walk.last_seq, walk.last_hash = rows[0][0] - 1, rows[0][1]
            check_rows(walk, rows)
            if progress:
                progress(report.count, max(total, report.count))
    if chunk.first is not None:
        chunk.last = (walk.last_seq, walk.last_hash)
    chunk.count, chunk.findings, chunk.finding_total = report.count, report.findings, report.finding_total
    chunk.leftover = walk.wanted
    return chunk


def stream_rows(pg: psycopg.Connection[Any], lo: int, hi: int) -> Iterator[list[tuple[Any, ...]]]:
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


def check_rows(walk: Walk, rows: Sequence[Sequence[Any]]) -> None:
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
        fields = {
            "v": row[21],
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
        }
        if row[21] >= 2:  # version 1 bodies predate these fields (canonical.py)
            fields["session_env"], fields["origin"] = row[22], row[23]
        body = dumps(fields, option=sort_keys)
        digest = sha256(f"{HASH_DOMAIN}\n{prev_hash}\n{seq}\n{recorded_at}\n".encode())
        digest.update(body)
        if digest.hexdigest() != stored_hash:
            report.add(Finding("edited", seq, "stored content does not match its hash"))
        if seq in wanted:
            compare_marks(report, wanted.pop(seq), stored_hash)
        last_seq, last_hash = seq, stored_hash
    report.count += len(rows)
    walk.last_seq, walk.last_hash = last_seq, last_hash
    report.head_seq, report.head_hash = last_seq, last_hash


def compare_marks(report: VerifyReport, marks: list[CheckpointMark], stored_hash: str) -> None:
    for cp in marks:
        if cp.hash != stored_hash:
            report.add(Finding("diverged", cp.seq, f"differs from checkpoint of {cp.created_at:%Y-%m-%d %H:%M:%S}Z"))
