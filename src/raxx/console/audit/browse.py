"""What the audit page shows: filtered pages of events, one event with its pair, the chain's status.

Read-only; every query goes through :mod:`raxx.console.audit.repository`. Visibility
follows roles: a reader sees events of the environments where they hold the
``audit`` capability, plus console-wide events (login, logout) with no environment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit import repository
from raxx.console.audit.checkpoint import Checkpoint, row_to_checkpoint
from raxx.console.audit.repository import EventFilter, EventRecord, Head

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventPage:
    events: list[EventRecord]
    #: Cursors for the neighbouring pages (None: no such page).
    older_than: int | None
    newer_than: int | None
    #: Attempts on this page that have an outcome: event id -> (outcome seq, outcome).
    closed: dict[uuid.UUID, tuple[int, str]]


@dataclass(frozen=True)
class ChainStatus:
    head: Head | None
    head_recorded_at: datetime | None
    last_checkpoint: Checkpoint | None
    last_verify: EventRecord | None

    @property
    def last_verify_ok(self) -> bool | None:
        return None if self.last_verify is None else self.last_verify.outcome == "ok"

    @property
    def checkpoint_lag(self) -> int | None:
        """Events appended since the last checkpoint."""
        if self.last_checkpoint is None or self.head is None:
            return None
        return self.head.seq - self.last_checkpoint.seq


async def event_page(
    engine: AsyncEngine,
    filters: EventFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> EventPage:
    async with engine.connect() as conn:
        # One extra row tells whether a further page exists, without a count over a million rows.
        rows = list(await repository.search(conn, filters, before_seq=before, after_seq=after, limit=size + 1))
        closed = await repository.outcomes_of(conn, [e.event_id for e in rows if e.phase == "attempt"])
    more = len(rows) > size
    if after is not None:
        events = rows[-size:] if more else rows
        newer, older = (events[0].seq if more else None), (events[-1].seq if events else None)
    else:
        events = rows[:size]
        older = events[-1].seq if more else None
        newer = events[0].seq if (events and before is not None) else None
    return EventPage(events=events, older_than=older, newer_than=newer, closed=closed)


async def event_with_partner(engine: AsyncEngine, seq: int) -> tuple[EventRecord | None, EventRecord | None]:
    """An event and the other half of its attempt/outcome pair."""
    async with engine.connect() as conn:
        event = await repository.get_event(conn, seq)
        partner = await repository.partner_of(conn, event) if event else None
    return event, partner


async def chain_status(engine: AsyncEngine) -> ChainStatus:
    async with engine.connect() as conn:
        head = await repository.head(conn)
        head_event = await repository.get_event(conn, head.seq) if head else None
        checkpoints = await repository.checkpoints(conn, limit=1)
        last_verify = await repository.latest_event_of_action(conn, "audit.verify")
    return ChainStatus(
        head=head,
        head_recorded_at=head_event.recorded_at if head_event else None,
        last_checkpoint=row_to_checkpoint(checkpoints[0]) if checkpoints else None,
        last_verify=last_verify,
    )
