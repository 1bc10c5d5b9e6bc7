"""Raising and resolving alerts: rows in the outbox, nothing sent here (``dispatch.py`` sends).

Usage, from any process that owns a database with the outbox tables (the console's, the
ledger)::

    alerts = Alerts(engine, source="console")
    await alerts.raise_alert("auth.break_glass", environment="prod",
                             summary="break-glass sign-in by admin",
                             details={"user": "admin"}, dedup_key="auth.break_glass:admin:<session>")
    await alerts.resolve_alert("identity.mismatch:prod")

``raise_alert`` commits on its own (like the audit attempt) and returns at once: it
deduplicates on ``dedup_key`` while the alert is open (a repeat counts an occurrence and
sends nothing), and queues one delivery per configured sink. ``resolve_alert`` closes the
open alert with that key and queues the resolves (PagerDuty resolves by the same
``dedup_key``). Neither raises on a database failure when ``swallow=True`` (the default):
an alert must never stop the action that raised it; the failure is logged
(``alert.record.failed``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from raxx.common.alerts.kinds import kind as alert_kind
from raxx.common.alerts.sinks import alert_settings
from raxx.common.alerts.tables import alert, alert_delivery
from raxx.common.clock import utcnow
from raxx.common.logging import log_event

log = logging.getLogger("raxx.alerts")


@dataclass(frozen=True)
class Raised:
    """The outcome of ``raise_alert``: the alert's id and whether this call opened it."""

    id: uuid.UUID
    new: bool


class Alerts:
    """The outbox of one database. ``sinks`` defaults to the ones ``RAXX_ALERT_*`` configures."""

    def __init__(self, engine: AsyncEngine, *, source: str, sinks: tuple[str, ...] | None = None) -> None:
        self.engine = engine
        self.source = source
        self.sinks = tuple(alert_settings().sinks()) if sinks is None else sinks
        #: Set when a delivery was queued: a dispatcher in this process waits on it.
        self.queued = asyncio.Event()

    async def raise_alert(
        self,
        kind: str,
        *,
        environment: str | None,
        summary: str,
        details: Mapping[str, Any] | None = None,
        dedup_key: str | None = None,
        swallow: bool = True,
        already_sent: bool = False,
        unless_resolved_since: datetime | None = None,
    ) -> Raised | None:
        """Record ``kind`` (a name in ``kinds.KINDS``) as firing; None when it could not be recorded
        (or was not: see ``unless_resolved_since``).

        ``already_sent``: the trigger went out without the outbox (``AlertDispatcher.send_now``);
        record the alert only, so that its resolve goes through the outbox.
        ``unless_resolved_since``: when the caller began reading the state it raises on; an alert
        of this key resolved since then was resolved by someone who saw a newer state, so this
        raise is stale and left out (a watcher's look racing an operator's resume)."""
        spec = alert_kind(kind)
        key = dedup_key or f"{kind}:{environment or '-'}"
        try:
            async with self.engine.begin() as conn:
                if unless_resolved_since is not None and await _resolved_since(conn, key, unless_resolved_since):
                    log_event(log, "alert.raise.stale", kind=kind, dedup_key=key)
                    return None
                raised = await self._upsert(conn, spec.name, spec.severity, environment, summary, details or {}, key)
                if raised.new and not already_sent:
                    await self._queue(conn, raised.id, "trigger")
        except Exception as exc:
            log_event(log, "alert.record.failed", level=logging.ERROR, kind=kind, dedup_key=key, error=repr(exc))
            if not swallow:
                raise
            return None
        level = logging.ERROR if raised.new else logging.INFO
        log_event(
            log,
            "alert.raise.ok" if raised.new else "alert.raise.deduplicated",
            level=level,
            kind=kind,
            environment=environment,
            dedup_key=key,
            summary=summary,
        )
        if raised.new and self.sinks and not already_sent:
            self.queued.set()
        return raised

    async def resolve_alert(
        self, dedup_key: str, *, swallow: bool = True, unless_raised_since: datetime | None = None
    ) -> bool:
        """Close the open alert with ``dedup_key`` and queue its resolves; False when none was open.

        ``unless_raised_since``: when the caller began reading the state it resolves on; an alert
        first raised since then stays open (raised on a newer state than the caller saw)."""
        opened_before = alert.c.first_seen < unless_raised_since if unless_raised_since is not None else sa.true()
        try:
            async with self.engine.begin() as conn:
                now = utcnow()
                alert_id = (
                    await conn.execute(
                        sa.update(alert)
                        .where(alert.c.dedup_key == dedup_key, alert.c.state == "triggered", opened_before)
                        .values(state="resolved", resolved_at=now)
                        .returning(alert.c.id)
                    )
                ).scalar_one_or_none()
                if alert_id is not None:
                    await self._queue(conn, alert_id, "resolve")
        except Exception as exc:
            log_event(log, "alert.record.failed", level=logging.ERROR, dedup_key=dedup_key, error=repr(exc))
            if not swallow:
                raise
            return False
        if alert_id is None:
            return False
        log_event(log, "alert.resolve.ok", dedup_key=dedup_key)
        if self.sinks:
            self.queued.set()
        return True

    async def is_open(self, dedup_key: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                sa.select(alert.c.id).where(alert.c.dedup_key == dedup_key, alert.c.state == "triggered")
            )
            return found.first() is not None

    async def _upsert(
        self,
        conn: AsyncConnection,
        kind: str,
        severity: str,
        environment: str | None,
        summary: str,
        details: Mapping[str, Any],
        key: str,
    ) -> Raised:
        now = utcnow()
        statement = insert(alert).values(
            id=uuid.uuid4(),
            kind=kind,
            environment=environment,
            severity=severity,
            summary=summary,
            details=orjson.loads(orjson.dumps(dict(details), default=str)),  # anything a caller passes, as JSON
            dedup_key=key,
            source=self.source,
            state="triggered",
            first_seen=now,
            last_seen=now,
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[alert.c.dedup_key],
            index_where=alert.c.state == "triggered",
            set_={"last_seen": statement.excluded.last_seen, "occurrences": alert.c.occurrences + 1},
        ).returning(alert.c.id, sa.literal_column("xmax = 0").label("new"))  # xmax 0: a new row, not an update
        row = (await conn.execute(upsert)).one()
        return Raised(row.id, bool(row.new))

    async def _queue(self, conn: AsyncConnection, alert_id: uuid.UUID, action: str) -> None:
        if not self.sinks:
            return
        now = utcnow()
        await conn.execute(
            sa.insert(alert_delivery),
            [
                {"alert_id": alert_id, "sink": sink, "action": action, "next_attempt_at": now, "created_at": now}
                for sink in self.sinks
            ],
        )


async def _resolved_since(conn: AsyncConnection, dedup_key: str, since: datetime) -> bool:
    found = await conn.execute(
        sa.select(alert.c.id).where(alert.c.dedup_key == dedup_key, alert.c.resolved_at >= since).limit(1)
    )
    return found.first() is not None


@dataclass(frozen=True)
class AlertRow:
    """One alert as the console's alerts page shows it, with its deliveries."""

    id: uuid.UUID
    kind: str
    environment: str | None
    severity: str
    summary: str
    dedup_key: str
    source: str
    state: str
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    deliveries: tuple[dict[str, Any], ...]


async def recent_alerts(conn: AsyncConnection, *, limit: int = 50) -> list[AlertRow]:
    """The last ``limit`` alerts and every alert still open however old, newest first, each
    with its deliveries: a burst of new alerts (sixty break-glass sign-ins) must not push an
    open prod halt off the page."""
    window = sa.select(alert.c.seq).order_by(alert.c.seq.desc()).limit(limit).subquery()
    oldest_listed = sa.select(sa.func.min(window.c.seq)).scalar_subquery()
    listed = sa.select(alert).where(sa.or_(alert.c.state == "triggered", alert.c.seq >= oldest_listed))
    rows = (await conn.execute(listed.order_by(alert.c.seq.desc()))).mappings().all()
    ids = [r["id"] for r in rows]
    deliveries: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        found = await conn.execute(
            sa.select(alert_delivery).where(alert_delivery.c.alert_id.in_(ids)).order_by(alert_delivery.c.id)
        )
        for d in found.mappings():
            deliveries[d["alert_id"]].append(dict(d))
    columns = [f.name for f in fields(AlertRow) if f.name != "deliveries"]  # named as in the alert table
    return [AlertRow(**{c: r[c] for c in columns}, deliveries=tuple(deliveries[r["id"]])) for r in rows]
