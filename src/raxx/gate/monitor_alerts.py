"""The monitor's alerts: a deployment failing its health, naming another environment, a soak whose
health is below the policy's threshold, and the monitor itself unable to record.

Each is raised once when its condition starts (the outbox deduplicates repeats) and resolved
when it clears. After a restart the monitor does not know what it raised before, so the first
clear round resolves whatever is open (a no-op when nothing is). ``monitor.unrecorded`` is sent
past the ledger, so the ledger cannot tell a new process about it: a process whose first round
finds nothing recorded for longer than the page takes to fire resolves it (``silence_before_start``)
-- the case of a ledger credential rotated under a failing monitor, which Heroku restarts with the
new one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from raxx.common.alerts import AlertDispatcher, Alerts
from raxx.common.alerts.dispatch import direct_message
from raxx.common.contracts.board import ReleaseBoard
from raxx.common.logging import log_event
from raxx.gate.monitor_log import Sampled, state_of

log = logging.getLogger("raxx.gate.monitor")
SOAK_HEALTH_CHECK = "success_rate"


@dataclass
class MonitorAlerts:
    alerts: Alerts
    dispatcher: AlertDispatcher
    #: Consecutive failing samples (not while starting) before health.failing fires.
    failures_to_alert: int = 3
    #: Consecutive rounds the ledger refused before monitor.unrecorded fires (sent directly).
    unrecorded_to_alert: int = 2
    #: Seconds between two rounds (GATE_MONITOR_INTERVAL): turns rounds into a silence.
    interval_s: float = 30.0
    _failures: dict[str, int] = field(default_factory=dict)
    #: dedup key -> open (True), clear (False); missing: unknown since this process started.
    _open: dict[str, bool] = field(default_factory=dict)
    _unrecorded: int = 0
    _unrecorded_sent: str | None = None
    _tasks: set[asyncio.Task[object]] = field(default_factory=set)

    async def after_round(self, probes: list[tuple[str, Sampled]], board: ReleaseBoard | None) -> None:
        """``probes``: (environment, probe) of a round that reached the ledger."""
        await self._recovered()
        for environment, probe in probes:
            await self._health(environment, probe)
            await self._identity(environment, probe)
        if board is not None:
            await self._soaks(board)

    async def _health(self, environment: str, probe: Sampled) -> None:
        state = state_of(probe)
        if state == "starting":
            return  # neither proves nor disproves health
        self._failures[probe.deployment] = self._failures.get(probe.deployment, 0) + 1 if state == "failing" else 0
        failures = self._failures[probe.deployment]
        await self._on_probe(
            f"health.failing:{probe.deployment}",
            "health.failing",
            environment,
            probe,
            firing=failures >= self.failures_to_alert,
            cleared=state == "ok",
            summary=f"{probe.deployment} failed its last {failures} health checks: {probe.reason}",
        )

    async def _identity(self, environment: str, probe: Sampled) -> None:
        await self._on_probe(
            f"identity.mismatch:monitor:{probe.deployment}",
            "identity.mismatch",
            environment,
            probe,
            firing=probe.wrong_environment,
            cleared=probe.ok,
            summary=f"{probe.deployment} {probe.reason}",
        )

    async def _on_probe(
        self, key: str, kind: str, environment: str, probe: Sampled, *, firing: bool, cleared: bool, summary: str
    ) -> None:
        """Raise ``kind`` for the probed deployment while ``firing``; resolve it once ``cleared``."""
        if firing:
            await self._raise(key, kind, environment, summary, {"deployment": probe.deployment, "reason": probe.reason})
        elif cleared:
            await self._resolve(key)

    async def _soaks(self, board: ReleaseBoard) -> None:
        for deployment in board.deployments:
            soak = deployment.soak
            if soak is None:
                continue
            key = f"soak.failed:{deployment.service}"
            below = [b for b in soak.blockers if b.startswith(SOAK_HEALTH_CHECK + ":")]
            if below:
                await self._raise(
                    key,
                    "soak.failed",
                    deployment.environment,
                    f"{soak.release} soaking on {deployment.service} toward {soak.target_environment}: {below[0]}",
                    {"release": soak.release, "deployment": deployment.service, "target": soak.target_environment},
                )
            else:
                await self._resolve(key)

    async def unrecorded(self, error: str) -> None:
        """A round whose samples the ledger refused: the outbox is in that ledger, so send directly."""
        self._unrecorded += 1
        if self._unrecorded != self.unrecorded_to_alert:
            return
        message = direct_message(
            "monitor.unrecorded",
            environment=None,
            summary=f"the monitor cannot record health samples in the ledger: {error}",
            details={"error": error, "rounds": self._unrecorded},
            dedup_key="monitor.unrecorded",
            source=self.alerts.source,
        )
        self._unrecorded_sent = message.summary
        task = asyncio.create_task(self.dispatcher.send_now(message))  # never hold up the next round
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def silence_before_start(self, last_recorded: datetime | None, now: datetime) -> None:
        """Called once, at this process's first recorded round: when no sample was recorded for
        long enough that an earlier process could have paged ``monitor.unrecorded`` directly, the
        page is recorded and resolved by ``_recovered`` (a resolve of an incident never opened is
        a no-op at PagerDuty; the history keeps the gap)."""
        if last_recorded is None or self._unrecorded_sent is not None:
            return
        silence = now - last_recorded
        if silence <= timedelta(seconds=self.interval_s * (self.unrecorded_to_alert + 1)):
            return  # a restart's ordinary gap: not enough failed rounds for a page
        since, until = last_recorded.astimezone(UTC), now.astimezone(UTC)
        self._unrecorded_sent = (
            f"the monitor recorded no health samples from {since:%Y-%m-%d %H:%M:%S} to {until:%H:%M:%S} UTC"
            f" ({int(silence.total_seconds())} s); it records again (restarted)"
        )
        log_event(log, "gate.monitor.silence", level=logging.WARNING, seconds=int(silence.total_seconds()))

    async def _recovered(self) -> None:
        self._unrecorded = 0
        if self._unrecorded_sent is None:
            return
        # Record what was sent while the ledger was away, then resolve it through the outbox.
        await self.alerts.raise_alert(
            "monitor.unrecorded",
            environment=None,
            summary=self._unrecorded_sent,
            dedup_key="monitor.unrecorded",
            already_sent=True,
        )
        if await self.alerts.resolve_alert("monitor.unrecorded"):
            self._unrecorded_sent = None

    async def _raise(self, key: str, kind: str, environment: str, summary: str, details: dict[str, object]) -> None:
        if self._open.get(key):
            return  # raised by this process already: no write per round
        if await self.alerts.raise_alert(
            kind, environment=environment, summary=summary, details=details, dedup_key=key
        ):
            self._open[key] = True

    async def _resolve(self, key: str) -> None:
        if self._open.get(key) is False:
            return
        try:
            await self.alerts.resolve_alert(key, swallow=False)
        except Exception as exc:  # retried at the next clear round
            log_event(log, "alert.resolve.failed", level=logging.WARNING, dedup_key=key, error=repr(exc))
            return
        self._open[key] = False
