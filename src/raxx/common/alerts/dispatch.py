"""Sending the outbox: claim due deliveries, send each with retries, record every result.

A dispatcher runs beside the code that raises alerts (a task in the console's lifespan,
one in the monitor) and never in an action's path. It claims a batch of due deliveries by
pushing their ``next_attempt_at`` forward (a lease: two dispatchers on one database never
send the same delivery twice while both live, and a crashed one's claims come due again),
commits, sends without holding a connection, then records the result. A sink that fails
is retried with exponential backoff (tenacity) within the pass and, after that, at a later
pass until ``max_attempts``; every failure is logged (``alert.delivery.failed``). A
resolve waits for its trigger's delivery to the same sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_exponential

from raxx.common.alerts.kinds import kind as alert_kind
from raxx.common.alerts.sinks import AlertMessage, AlertSettings, Sink, alert_settings
from raxx.common.alerts.tables import alert, alert_delivery
from raxx.common.alerts.words import environment_words
from raxx.common.clock import utcnow
from raxx.common.logging import log_event

log = logging.getLogger("raxx.alerts")
LEASE = timedelta(seconds=120)


class SinkRefused(Exception):
    """A sink answered with a status that is not success."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status

    @property
    def permanent(self) -> bool:
        """A 4xx other than timeout and rate limit: the sink will refuse the same request again
        (a revoked Slack webhook, a PagerDuty key that does not exist, a payload it rejects)."""
        return 400 <= self.status < 500 and self.status not in (408, 429)


#: The error of a delivery given up at once because the sink refused it for good.
PERMANENT = "refused for good: "


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, httpx.HTTPError) or (isinstance(exc, SinkRefused) and not exc.permanent)


class AlertDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        settings: AlertSettings | None = None,
        sinks: dict[str, Sink] | None = None,
        http: httpx.AsyncClient | None = None,
        batch: int = 20,
    ) -> None:
        self.engine = engine
        self.settings = settings or alert_settings()
        self.sinks = self.settings.sinks() if sinks is None else sinks
        self._http = http
        self.batch = batch

    async def deliver_due(self) -> int:
        """One pass: send every due delivery (a batch at a time); return how many were sent."""
        if not self.sinks:
            return 0
        sent = 0
        async with contextlib.AsyncExitStack() as stack:
            http = self._http
            if http is None:
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=self.settings.timeout_s))
            while claimed := await self._claim():
                results = await asyncio.gather(*(self._send(http, row) for row in claimed))
                sent += sum(results)  # then claim again: a resolve may have waited for these triggers
        return sent

    async def run(self, wake: asyncio.Event | None = None, *, interval: float = 15.0) -> None:
        """Deliver until cancelled: at each ``wake`` (an alert was queued here) or every ``interval``."""
        while True:
            try:
                await self.deliver_due()
            except Exception as exc:  # a database that is down now is retried at the next pass
                log_event(log, "alert.dispatch.failed", level=logging.WARNING, error=repr(exc))
            if wake is None:
                await asyncio.sleep(interval)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval)
            wake.clear()

    async def _claim(self) -> list[dict[str, Any]]:
        d, a = alert_delivery, alert
        trigger = d.alias("t")
        now = utcnow()
        waiting_for_trigger = sa.exists().where(
            trigger.c.alert_id == d.c.alert_id,
            trigger.c.sink == d.c.sink,
            trigger.c.action == "trigger",
            trigger.c.status == "pending",
        )
        due = (
            sa.select(d.c.id)
            .where(d.c.status == "pending", d.c.next_attempt_at <= now)
            .where(sa.or_(d.c.action == "trigger", ~waiting_for_trigger))
            .order_by(d.c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        async with self.engine.begin() as conn:
            ids = (
                (
                    await conn.execute(
                        sa.update(d).where(d.c.id.in_(due)).values(next_attempt_at=now + LEASE).returning(d.c.id)
                    )
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = await conn.execute(
                sa.select(d.c.id.label("delivery_id"), d.c.sink, d.c.action, d.c.attempts, a)
                .join(a, a.c.id == d.c.alert_id)
                .where(d.c.id.in_(ids))
                .order_by(d.c.id)
            )
            return [dict(r) for r in rows.mappings()]

    async def _send(self, http: httpx.AsyncClient, row: dict[str, Any]) -> bool:
        sink = self.sinks.get(row["sink"])
        if sink is None:
            await self._record(
                row["delivery_id"], attempts=row["attempts"], failed=True, error="sink no longer configured"
            )
            return False
        tries, status, error = await self._post(http, sink, message_of(row), row["action"])
        attempts = row["attempts"] + tries
        if error is None:
            await self._record(row["delivery_id"], attempts=attempts, status=status)
            return True
        give_up = attempts >= self.settings.max_attempts or error.startswith(PERMANENT)
        log_event(
            log,
            "alert.delivery.failed",
            level=logging.ERROR,
            sink=sink.name,
            action=row["action"],
            dedup_key=row["dedup_key"],
            attempts=attempts,
            gave_up=give_up,
            error=error,
        )
        await self._record(
            row["delivery_id"], attempts=attempts, failed=give_up, error=error, status=status, backoff=True
        )
        return False

    async def send_now(self, message: AlertMessage, action: str = "trigger") -> dict[str, str | None]:
        """Send straight to every sink, recording nothing: for the one alert whose database is the
        problem (the monitor that cannot reach its ledger). Returns each sink's error (None: sent)."""
        results: dict[str, str | None] = {}
        async with httpx.AsyncClient(timeout=self.settings.timeout_s) as own:
            http = self._http or own
            for name, sink in self.sinks.items():
                _, _, results[name] = await self._post(http, sink, message, action)
                if results[name]:
                    log_event(log, "alert.delivery.failed", level=logging.ERROR, sink=name, error=results[name])
        return results

    async def _post(
        self, http: httpx.AsyncClient, sink: Sink, message: AlertMessage, action: str
    ) -> tuple[int, int | None, str | None]:
        """One delivery with retries and backoff: (tries, last status, error or None)."""
        request = sink.request(message, action)
        tries = 0
        status: int | None = None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.attempts_per_pass),
            wait=wait_exponential(multiplier=self.settings.retry_base_s, max=30),
            retry=retry_if_exception(_worth_retrying),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    tries += 1
                    response = await http.post(request.url, json=request.json, headers=request.headers)
                    status = response.status_code
                    if not 200 <= status < 300:
                        refused = SinkRefused(status, response.text)
                        if not refused.permanent:
                            log_event(
                                log,
                                "alert.delivery.retry",
                                level=logging.WARNING,
                                sink=sink.name,
                                status=status,
                                try_=tries,
                            )
                        raise refused
        except RetryError as exc:
            return tries, status, repr(exc.last_attempt.exception())
        except SinkRefused as exc:  # the sink refused the request itself: sending it again cannot help
            return tries, status, PERMANENT + repr(exc)
        log_event(log, "alert.delivery.ok", sink=sink.name, action=action, dedup_key=message.dedup_key, tries=tries)
        return tries, status, None

    async def _record(
        self,
        delivery_id: int,
        *,
        attempts: int,
        status: int | None = None,
        error: str | None = None,
        failed: bool = False,
        backoff: bool = False,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error}
        if error is None:
            values.update(status="delivered", delivered_at=now)
        elif failed:
            values.update(status="failed")
        elif backoff:
            # Between passes: 2^attempts times the base, capped at an hour.
            delay = min(3600.0, max(1.0, self.settings.retry_base_s) * 2 ** min(attempts, 12))
            values.update(next_attempt_at=now + timedelta(seconds=delay))
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(alert_delivery).where(alert_delivery.c.id == delivery_id).values(**values))


async def deliver_briefly(engine: AsyncEngine, seconds: float = 10.0) -> None:
    """For a command that raised alerts: send them before it exits, for at most ``seconds``. What is
    left stays in the outbox for a long-running dispatcher; this never fails the command."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(AlertDispatcher(engine).deliver_due(), timeout=seconds)


def direct_message(
    kind: str, *, environment: str | None, summary: str, details: dict[str, Any], dedup_key: str, source: str
) -> AlertMessage:
    """A message for :meth:`AlertDispatcher.send_now` (no outbox row behind it)."""
    return AlertMessage(
        id=dedup_key,
        kind=kind,
        environment=environment,
        environment_words=environment_words(environment),
        severity=alert_kind(kind).severity,
        summary=summary,
        details=details,
        dedup_key=dedup_key,
        source=source,
        first_seen=utcnow(),
        occurrences=1,
    )


def message_of(row: dict[str, Any]) -> AlertMessage:
    return AlertMessage(
        id=str(row["id"]),
        kind=row["kind"],
        environment=row["environment"],
        environment_words=environment_words(row["environment"]),
        severity=row["severity"],
        summary=row["summary"],
        details=dict(row["details"] or {}),
        dedup_key=row["dedup_key"],
        source=row["source"],
        first_seen=row["first_seen"],
        occurrences=row["occurrences"],
    )
