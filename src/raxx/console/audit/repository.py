"""SQL of the audit trail. Services call these; nothing else writes SQL for these tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from raxx.common.storable import is_storable_int
from raxx.console.audit.models import AuditCheckpoint, AuditEvent

APPEND_SQL = text("SELECT seq, hash, recorded_at FROM audit_append(:body)")
#: The parameter of a reconciler's event that settles an earlier ``unknown`` outcome: its event id.
RESOLVES = "resolves"
APPEND_MANY_SQL = text("SELECT seq, hash, recorded_at FROM audit_append_many(CAST(:bodies AS text[]))")


@dataclass(frozen=True)
class Appended:
    """What the database assigned to a new event."""

    seq: int
    hash: str
    recorded_at: datetime


@dataclass(frozen=True)
class EventRecord:
    """One ``audit_event`` row as read back (a plain value, not an ORM instance)."""

    seq: int
    event_id: uuid.UUID
    occurred_at: datetime
    recorded_at: datetime
    actor_id: uuid.UUID | None
    actor_name: str | None
    session_hash: str | None
    environment: str | None
    action: str
    target: str | None
    params: dict[str, Any]
    phase: str
    outcome: str | None
    attempt_id: uuid.UUID | None
    http_status: int | None
    error: str | None
    request_id: str | None
    client_ip: str | None
    user_agent: str | None
    prev_hash: str
    hash: str
    body_version: int = 1
    session_env: str | None = None
    origin: str | None = None

    @property
    def from_other_tab(self) -> bool:
        """Acted in one environment while the session had another selected: the action
        came from a tab (or a link) older than the session's last switch."""
        return self.session_env is not None and self.environment is not None and self.session_env != self.environment


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True)
class EventFilter:
    """Filters shared by the audit page and the export (all optional, combined with AND)."""

    environment: str | None = None
    #: ``"-"`` selects events with no environment (console-wide actions such as login).
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    phase: str | None = None
    #: Recorded at or after / before (``recorded_at``, the database's clock).
    since: datetime | None = None
    until: datetime | None = None
    request_id: str | None = None
    #: Restrict to these environments (what the reader may audit); None: no restriction.
    visible_environments: tuple[str, ...] | None = None
    #: With ``visible_environments``: also events with no environment (login, logout).
    include_no_environment: bool = True

    NO_ENVIRONMENT = "-"


async def append(conn: AsyncConnection, body: str) -> Appended:
    """Append one event through ``audit_append`` (lock, head, seq, hash, insert)."""
    row = (await conn.execute(APPEND_SQL, {"body": body})).one()
    return Appended(seq=row.seq, hash=row.hash, recorded_at=row.recorded_at)


async def append_many(conn: AsyncConnection, bodies: list[str]) -> list[Appended]:
    """Append several events, in order, in the caller's transaction (all or none)."""
    rows = (await conn.execute(APPEND_MANY_SQL, {"bodies": bodies})).all()
    return [Appended(seq=row.seq, hash=row.hash, recorded_at=row.recorded_at) for row in rows]


async def head(conn: AsyncConnection) -> Head | None:
    row = (
        await conn.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))
    ).one_or_none()
    return Head(seq=row.seq, hash=row.hash) if row else None


async def event_count(conn: AsyncConnection) -> int:
    """Rows in the chain; cheap estimate first (pg_class), exact count only for small tables."""
    estimate = (
        await conn.execute(text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'audit_event'::regclass"))
    ).scalar_one()
    if estimate is not None and estimate > 100_000:
        return int(estimate)
    return int((await conn.execute(select(func.count()).select_from(AuditEvent))).scalar_one())


def _filtered(stmt: Select[Any], filters: EventFilter) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = []
    if filters.environment == EventFilter.NO_ENVIRONMENT:
        conditions.append(AuditEvent.environment.is_(None))
    elif filters.environment:
        conditions.append(AuditEvent.environment == filters.environment)
    if filters.visible_environments is not None:
        visible = AuditEvent.environment.in_(filters.visible_environments)
        conditions.append(or_(visible, AuditEvent.environment.is_(None)) if filters.include_no_environment else visible)
    if filters.actor:
        conditions.append(_actor_condition(filters.actor))
    if filters.action:
        if filters.action.endswith(".*"):
            conditions.append(AuditEvent.action.startswith(filters.action[:-1], autoescape=True))
        else:
            conditions.append(AuditEvent.action == filters.action)
    if filters.outcome:
        conditions.append(AuditEvent.outcome == filters.outcome)
    if filters.phase:
        conditions.append(AuditEvent.phase == filters.phase)
    conditions += _time_conditions(filters)
    if filters.request_id:
        conditions.append(AuditEvent.request_id == filters.request_id)
    return stmt.where(and_(*conditions)) if conditions else stmt


def _time_conditions(filters: EventFilter) -> list[ColumnElement[bool]]:
    """``since``/``until`` select by ``recorded_at``, which grows with ``seq``: the time range
    becomes a seq range (two index probes), so the page's newest-first scan stays short."""
    conditions: list[ColumnElement[bool]] = []
    if filters.since:
        first = (
            select(AuditEvent.seq)
            .where(AuditEvent.recorded_at >= filters.since)
            .order_by(AuditEvent.recorded_at, AuditEvent.seq)
            .limit(1)
            .scalar_subquery()
        )
        conditions += [AuditEvent.recorded_at >= filters.since, AuditEvent.seq >= first]
    if filters.until:
        last = (
            select(AuditEvent.seq)
            .where(AuditEvent.recorded_at < filters.until)
            .order_by(AuditEvent.recorded_at.desc(), AuditEvent.seq.desc())
            .limit(1)
            .scalar_subquery()
        )
        conditions += [AuditEvent.recorded_at < filters.until, AuditEvent.seq <= last]
    return conditions


def _actor_condition(actor: str) -> ColumnElement[bool]:
    try:
        return AuditEvent.actor_id == uuid.UUID(actor)
    except ValueError:
        return AuditEvent.actor_name == actor


async def search(
    conn: AsyncConnection,
    filters: EventFilter,
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 50,
) -> Sequence[EventRecord]:
    """One page of events, newest first: older pages with ``before_seq`` (the last seq
    shown), newer ones with ``after_seq`` (the first seq shown).

    Keyset pagination (never OFFSET): page N costs the same as page 1 on a million rows.
    """
    stmt = _filtered(select(AuditEvent), filters)
    if after_seq is not None:
        stmt = stmt.where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq.asc())
        rows = list(reversed((await conn.execute(stmt.limit(limit))).all()))
    else:
        if before_seq is not None:
            stmt = stmt.where(AuditEvent.seq < before_seq)
        rows = list((await conn.execute(stmt.order_by(AuditEvent.seq.desc()).limit(limit))).all())
    return [_event_from_row(row) for row in rows]


def _event_from_row(row: Any) -> EventRecord:
    return EventRecord(**row._mapping)


async def get_event(conn: AsyncConnection, seq: int) -> EventRecord | None:
    """The event ``seq``; None when there is none (a number no ``bigint`` holds included)."""
    if not is_storable_int(seq):
        return None
    row = (await conn.execute(select(AuditEvent).where(AuditEvent.seq == seq))).one_or_none()
    return _event_from_row(row) if row else None


async def partner_of(conn: AsyncConnection, event: EventRecord) -> EventRecord | None:
    """An attempt's outcome, or an outcome's attempt (None for single events and open attempts)."""
    if event.phase == "attempt":
        stmt = select(AuditEvent).where(AuditEvent.attempt_id == event.event_id)
    elif event.attempt_id is not None:
        stmt = select(AuditEvent).where(AuditEvent.event_id == event.attempt_id)
    else:
        return None
    row = (await conn.execute(stmt)).one_or_none()
    return _event_from_row(row) if row else None


async def outcomes_of(conn: AsyncConnection, attempt_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, str]]:
    """For each attempt that has one: its outcome's seq and outcome."""
    if not attempt_ids:
        return {}
    rows = (
        await conn.execute(
            select(AuditEvent.attempt_id, AuditEvent.seq, AuditEvent.outcome).where(
                AuditEvent.attempt_id.in_(attempt_ids)
            )
        )
    ).all()
    return {row.attempt_id: (row.seq, row.outcome) for row in rows}


async def stream_events(
    conn: AsyncConnection, filters: EventFilter, *, batch_size: int = 2000
) -> AsyncIterator[EventRecord]:
    """Every matching event in chain order, through a server-side cursor (constant memory).

    Taken a batch at a time (``partitions``): iterating the async result row by row costs a
    greenlet switch per row, a quarter of an export's time (bench/audit.py, part 4)."""
    stmt = _filtered(select(AuditEvent), filters).order_by(AuditEvent.seq)
    result = await conn.stream(stmt.execution_options(yield_per=batch_size))
    async for rows in result.partitions(batch_size):
        for row in rows:
            yield _event_from_row(row)


async def open_attempts(
    conn: AsyncConnection, *, recorded_before: datetime, recorded_after: datetime | None, limit: int
) -> Sequence[EventRecord]:
    """Attempts with no outcome, recorded before ``recorded_before``, oldest first."""
    outcome = AuditEvent.__table__.alias("o")
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.phase == "attempt", AuditEvent.recorded_at < recorded_before)
        .where(~select(outcome.c.seq).where(outcome.c.attempt_id == AuditEvent.event_id).exists())
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    if recorded_after is not None:
        stmt = stmt.where(AuditEvent.recorded_at >= recorded_after)
    rows = (await conn.execute(stmt)).all()
    return [_event_from_row(row) for row in rows]


async def unresolved_unknowns(
    conn: AsyncConnection, *, recorded_before: datetime, recorded_after: datetime | None, limit: int
) -> list[tuple[EventRecord, EventRecord]]:
    """(attempt, its outcome) for each ``unknown`` outcome written by the request itself (a
    timeout after sending), before ``recorded_before``, that no later event ``resolves``
    (looked up by request id: its own index), oldest first. The reconciler's own ``unknown``
    closures are not here: Raptor could not tell then either."""
    later = AuditEvent.__table__.alias("r")
    resolved = (
        select(later.c.seq)
        .where(later.c.request_id == AuditEvent.request_id, later.c.seq > AuditEvent.seq)
        .where(later.c.params.has_key(RESOLVES))
        .exists()
    )
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.outcome == "unknown", AuditEvent.phase == "outcome", AuditEvent.attempt_id.is_not(None))
        .where(AuditEvent.recorded_at < recorded_before, AuditEvent.request_id.is_not(None))
        .where(~AuditEvent.params.has_key("reconciled"), ~resolved)
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    if recorded_after is not None:
        stmt = stmt.where(AuditEvent.recorded_at >= recorded_after)
    outcomes = [_event_from_row(row) for row in (await conn.execute(stmt)).all()]
    ids = [o.attempt_id for o in outcomes]
    found = (await conn.execute(select(AuditEvent).where(AuditEvent.event_id.in_(ids)))).all() if ids else []
    attempts = {a.event_id: a for a in (_event_from_row(row) for row in found)}
    return [(attempts[o.attempt_id], o) for o in outcomes if o.attempt_id in attempts]


async def latest_event_of_action(conn: AsyncConnection, action: str) -> EventRecord | None:
    row = (
        await conn.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq.desc()).limit(1)
        )
    ).one_or_none()
    return _event_from_row(row) if row else None


async def latest_event_in(conn: AsyncConnection, environment: str) -> EventRecord | None:
    """The newest event recorded in ``environment`` (its (environment, seq) index, one row)."""
    stmt = select(AuditEvent).where(AuditEvent.environment == environment).order_by(AuditEvent.seq.desc()).limit(1)
    row = (await conn.execute(stmt)).one_or_none()
    return _event_from_row(row) if row else None


async def insert_checkpoint(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(AuditCheckpoint).values(**values))


async def checkpoints(conn: AsyncConnection, *, latest_first: bool = True, limit: int | None = None) -> list[Any]:
    order = AuditCheckpoint.created_at.desc() if latest_first else AuditCheckpoint.created_at
    stmt = select(*AuditCheckpoint.__table__.columns).order_by(order, AuditCheckpoint.seq.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await conn.execute(stmt)).mappings().all())


async def hash_at(conn: AsyncConnection, seq: int) -> str | None:
    return (await conn.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq))).scalar_one_or_none()


#: How far back ``open_attempt_counts`` looks: the reconciler closes attempts after minutes,
#: and a bound keeps a scrape's query on the partial index's recent end.
OPEN_ATTEMPTS_LOOKBACK = timedelta(hours=24)


async def open_attempt_counts(conn: AsyncConnection) -> dict[str | None, int]:
    """Attempts of the last 24 h with no outcome yet, by environment (None: no environment)."""
    outcome = AuditEvent.__table__.alias("o")
    stmt = (
        select(AuditEvent.environment, func.count())
        .where(AuditEvent.phase == "attempt", AuditEvent.recorded_at > func.now() - OPEN_ATTEMPTS_LOOKBACK)
        .where(~select(outcome.c.seq).where(outcome.c.attempt_id == AuditEvent.event_id).exists())
        .group_by(AuditEvent.environment)
    )
    return {env: int(n) for env, n in (await conn.execute(stmt)).all()}


async def newest_checkpoint_seq(conn: AsyncConnection) -> int | None:
    """The chain position the newest checkpoint vouches for (it is signed only after verifying)."""
    stmt = select(AuditCheckpoint.seq).order_by(AuditCheckpoint.created_at.desc(), AuditCheckpoint.seq.desc()).limit(1)
    seq: int | None = (await conn.execute(stmt)).scalar_one_or_none()
    return seq
