"""``raxx monitor``: polls every deployment's health and identity, records one sample each.

Survives a deployment being down (a failed sample with the reason) and the ledger
being down (logs, retries next round); stops cleanly on SIGTERM or SIGINT. A probe that
fails while the deployment is starting (``raxx.gate.starting``) is recorded as starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from raxx.common.clock import Clock
from raxx.common.contracts.board import ReleaseBoard
from raxx.common.logging import log_event
from raxx.gate.board import build_board, publish_board
from raxx.gate.ledger.models import HealthSample
from raxx.gate.ledger.repository import ReleaseRepository, SampleRepository
from raxx.gate.metrics import sampled
from raxx.gate.monitor_alerts import MonitorAlerts
from raxx.gate.monitor_log import MonitorLog
from raxx.gate.policy import Policy
from raxx.gate.starting import DEFAULT_START_GRACE, StartEvidence, starting_reason
from raxx.gate.topology import Locator, ServiceInfo

log = logging.getLogger("raxx.gate.monitor")


@dataclass(frozen=True)
class Probe:
    deployment: str
    ok: bool
    latency_ms: float | None
    release_seen: str | None
    reason: str | None
    #: When the process says it started (its identity's ``started_at``), if it answered.
    process_started_at: datetime | None = None
    #: Unhealthy while starting: recorded, but neither a success nor a failure.
    starting: bool = False
    #: Its identity names another environment: a misconfiguration, never "starting".
    wrong_environment: bool = False
    #: The environment the topology says it is (alerts name it).
    environment: str | None = None


class Monitor:
    def __init__(
        self,
        *,
        policy: Policy,
        locator: Locator,
        sessions: async_sessionmaker[AsyncSession],
        http: httpx.AsyncClient,
        clock: Clock,
        timeout: float = 5.0,
        start_grace: float = DEFAULT_START_GRACE,
        deploy_timeout: float = 180.0,
        alerts: MonitorAlerts | None = None,
        summary_every: timedelta = timedelta(minutes=15),
    ) -> None:
        self.policy = policy
        self.locator = locator
        self.sessions = sessions
        self.http = http
        self.clock = clock
        self.timeout = timeout
        self.start_grace = timedelta(seconds=start_grace)
        self.deploy_timeout = timedelta(seconds=deploy_timeout)
        self.alerts = alerts
        self.log = MonitorLog(log, summary_every)
        self._board_failing = False
        #: Until this process records its first round: then it looks how long nothing was recorded.
        self._first_record = True

    async def poll_once(self) -> list[Probe]:
        """Probe every deployment concurrently and record the samples in one transaction."""
        try:
            services = self.locator.services()
        except Exception as exc:  # a missing topology must not kill the monitor
            log_event(log, "gate.monitor.topology.failed", level=logging.WARNING, error=str(exc))
            return []
        observed_at = self.clock.now()
        probes = list(await asyncio.gather(*(self.probe(s) for s in services)))
        async with self.sessions() as session:
            last_recorded = await self._last_recorded(session, services) if self._first_record else None
            probes = [await self._classify(session, s, p, observed_at) for s, p in zip(services, probes, strict=True)]
            session.add_all(
                HealthSample(
                    deployment=p.deployment,
                    observed_at=observed_at,
                    ok=p.ok,
                    latency_ms=p.latency_ms,
                    release_seen=p.release_seen,
                    reason=p.reason,
                    starting=p.starting,
                )
                for p in probes
            )
            await session.commit()
        if self._first_record:
            self._first_record = False
            if self.alerts is not None:
                self.alerts.silence_before_start(last_recorded, observed_at)
        for service, probe in zip(services, probes, strict=True):
            sampled(service.app, service.environment, ok=probe.ok, starting=probe.starting)
        board = await self.refresh_board()
        if self.alerts is not None:
            await self.alerts.after_round([(s.environment, p) for s, p in zip(services, probes, strict=True)], board)
        return probes

    @staticmethod
    async def _last_recorded(session: AsyncSession, services: list[ServiceInfo]) -> datetime | None:
        """The newest sample any earlier monitor process recorded (one index look per deployment)."""
        repository = SampleRepository(session)
        seen = [await repository.latest(s.service) for s in services]
        return max((sample.observed_at for sample in seen if sample is not None), default=None)

    async def _classify(self, session: AsyncSession, service: ServiceInfo, probe: Probe, at: datetime) -> Probe:
        """A failed probe of a deployment that is starting becomes a starting one."""
        if probe.ok or probe.wrong_environment:
            return probe
        last = await ReleaseRepository(session).history(service.app, service.environment, limit=1)
        evidence = StartEvidence(probe.process_started_at, service.started_at, last[0] if last else None)
        why = starting_reason(evidence, at, grace=self.start_grace, deploy_timeout=self.deploy_timeout)
        return replace(probe, starting=True, reason=f"starting ({why}): {probe.reason}") if why else probe

    async def refresh_board(self) -> ReleaseBoard | None:
        """Rebuild the releases board the console shows; a failure here never stops sampling
        (logged when it starts and when it ends, not every round)."""
        try:
            async with self.sessions() as session:
                board = await build_board(session, self.policy, now=self.clock.now())
                await publish_board(session, board)
                await session.commit()
        except Exception as exc:
            if not self._board_failing:
                error = f"{type(exc).__name__}: {exc}"
                log_event(log, "gate.monitor.board.failed", level=logging.WARNING, error=error)
            self._board_failing = True
            return None
        if self._board_failing:
            log_event(log, "gate.monitor.board.recovered")
        self._board_failing = False
        return board

    async def round(self) -> list[Probe]:
        """One round as ``run`` does it: poll, then log and alert on what changed (quiet otherwise)."""
        try:
            probes = await self.poll_once()
        except Exception as exc:  # the ledger being down must not stop the monitor
            error = f"{type(exc).__name__}: {exc}"
            self.log.unrecorded(error, self.clock.now())
            if self.alerts is not None:
                await self.alerts.unrecorded(error)
            return []
        self.log.recorded(list(probes), self.clock.now())
        return probes

    async def probe(self, service: ServiceInfo) -> Probe:
        app = self.policy.apps[service.app]
        started = time.perf_counter()
        health, health_error = await self._get(service.url + app.health_path)
        latency = round((time.perf_counter() - started) * 1000, 2)
        identity, identity_error = (
            (health, health_error)
            if app.identity_path == app.health_path
            else await self._get(service.url + app.identity_path)
        )
        release = identity.get("release") if identity else None
        reason = self._reason(service, health, health_error, identity, identity_error)
        answered = identity if identity and not identity_error else {}
        return Probe(
            service.service,
            reason is None,
            latency if health is not None else None,
            str(release) if release else None,
            reason,
            process_started_at=_timestamp(answered.get("started_at")),
            wrong_environment=answered.get("environment", service.environment) != service.environment,
            environment=service.environment,
        )

    @staticmethod
    def _reason(
        service: ServiceInfo,
        health: dict[str, Any] | None,
        health_error: str | None,
        identity: dict[str, Any] | None,
        identity_error: str | None,
    ) -> str | None:
        if health_error:
            return f"health: {health_error}"
        if identity_error:
            return f"identity: {identity_error}"
        environment = identity.get("environment") if identity else None
        if environment is not None and environment != service.environment:
            return f"identity says {environment!r}, expected {service.environment!r}"
        return None

    async def _get(self, url: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            response = await self.http.get(url, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {str(exc)[:160] or 'no response'}"
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200:
            reasons = body.get("reasons")
            return body, f"{response.status_code}" + (f" {'; '.join(map(str, reasons))}" if reasons else "")
        return body, None

    async def run(self, stop: asyncio.Event, *, interval: float) -> int:
        """Poll until ``stop`` is set; return the number of rounds done."""
        rounds = 0
        log_event(
            log, "gate.monitor.start.ok", interval=interval, summary_every_s=self.log.summary_every.total_seconds()
        )
        while not stop.is_set():
            started = time.monotonic()
            await self.round()
            rounds += 1
            delay = max(0.0, interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        log_event(log, "gate.monitor.stop.ok", rounds=rounds)
        return rounds


def _timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time with its zone, or None (a missing or unreadable one proves nothing)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGTERM (``raxx up`` stopping) and SIGINT (Ctrl-C) end the loop after the current round."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
