"""Export events as JSON Lines or CSV, streaming (a million events never sit in memory).

Every exported event carries ``seq``, ``prev_hash`` and ``hash``, so whoever receives
an export can check its links. CSV cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, tab or CR) are prefixed with ``'``
(OWASP CSV injection); JSON Lines are exact.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TextIO

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit import repository
from raxx.console.audit.canonical import BODY_FIELDS, format_timestamp
from raxx.console.audit.repository import EventFilter, EventRecord

ExportFormat = Literal["jsonl", "csv"]
#: The export's columns: the event body's fields (its ``v`` as ``body_version``) among the
#: row's own (``seq`` first, ``recorded_at`` after ``occurred_at``, the hash links last).
COLUMNS = (
    "seq",
    "event_id",
    "occurred_at",
    "recorded_at",
    *BODY_FIELDS[BODY_FIELDS.index("actor_id") :],
    "body_version",
    "prev_hash",
    "hash",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def event_dict(event: EventRecord) -> dict[str, Any]:
    """An event as plain JSON values, timestamps in the canonical format."""
    return {
        "seq": event.seq,
        "event_id": str(event.event_id),
        "occurred_at": format_timestamp(event.occurred_at),
        "recorded_at": format_timestamp(event.recorded_at),
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_name": event.actor_name,
        "session_hash": event.session_hash,
        "environment": event.environment,
        "action": event.action,
        "target": event.target,
        "params": event.params,
        "phase": event.phase,
        "outcome": event.outcome,
        "attempt_id": str(event.attempt_id) if event.attempt_id else None,
        "http_status": event.http_status,
        "error": event.error,
        "request_id": event.request_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "session_env": event.session_env,
        "origin": event.origin,
        "body_version": event.body_version,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


async def export_events(
    engine: AsyncEngine,
    out: TextIO,
    filters: EventFilter,
    *,
    fmt: ExportFormat = "jsonl",
    on_event: Callable[[int], None] | None = None,
) -> int:
    """Write matching events to ``out`` in chain order; return how many were written.
    ``on_event(n)`` is told the count after each one (what an export cut short had sent)."""
    writer = _CsvWriter(out) if fmt == "csv" else None
    count = 0
    async with engine.connect() as conn:
        async for event in repository.stream_events(conn, filters):
            row = event_dict(event)
            if writer:
                writer.write(row)
            else:
                out.write(orjson.dumps(row).decode() + "\n")
            count += 1
            if on_event:
                on_event(count)
    out.flush()
    return count


async def csv_rows(engine: AsyncEngine, filters: EventFilter) -> AsyncIterator[list[Any]]:
    """Matching events in chain order as CSV rows of ``COLUMNS`` (raw values; the writer
    neutralizes cells), through a server-side cursor: memory stays flat."""
    async with engine.connect() as conn:
        async for event in repository.stream_events(conn, filters):
            row = event_dict(event)
            yield [row[c] for c in COLUMNS]


class _CsvWriter:
    def __init__(self, out: TextIO) -> None:
        self._csv = csv.writer(out, lineterminator="\r\n")
        self._csv.writerow(COLUMNS)

    def write(self, row: dict[str, Any]) -> None:
        self._csv.writerow([csv_cell(row[c]) for c in COLUMNS])
