"""What the monitor writes to its log: changes, and a summary now and then.

A healthy round says nothing. A deployment that changes state (ok, starting, failing,
wrong environment) says so once (``gate.monitor.state.changed``); the ledger failing and
recovering likewise (``gate.monitor.poll.failed`` / ``gate.monitor.poll.recovered``);
and every ``summary_every`` one line counts what happened since the last one
(``gate.monitor.summary.ok``). At a 30 s interval with three deployments a healthy day
is the start line and 96 summaries instead of ~20,000 lines.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from raxx.common.logging import log_event


class Sampled(Protocol):
    @property
    def deployment(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def starting(self) -> bool: ...
    @property
    def wrong_environment(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...


def state_of(probe: Sampled) -> str:
    if probe.ok:
        return "ok"
    if probe.wrong_environment:
        return "wrong_environment"
    return "starting" if probe.starting else "failing"


@dataclass
class MonitorLog:
    log: logging.Logger
    summary_every: timedelta
    states: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    rounds: int = 0
    failed_rounds: int = 0
    samples: Counter[str] = field(default_factory=Counter)
    failing: Counter[str] = field(default_factory=Counter)
    ledger_error: str | None = None

    def recorded(self, probes: list[Sampled], at: datetime) -> None:
        """A round whose samples reached the ledger."""
        if self.ledger_error is not None:
            log_event(self.log, "gate.monitor.poll.recovered", was=self.ledger_error)
            self.ledger_error = None
        self.rounds += 1
        for probe in probes:
            state = state_of(probe)
            self.samples[probe.deployment] += 1
            if state != "ok":
                self.failing[probe.deployment] += 1
            before = self.states.get(probe.deployment)
            if state != before:
                level = logging.INFO if state in ("ok", "starting") else logging.WARNING
                log_event(
                    self.log,
                    "gate.monitor.state.changed",
                    level=level,
                    deployment=probe.deployment,
                    before=before,
                    after=state,
                    reason=probe.reason,
                )
                self.states[probe.deployment] = state
        self._summary_if_due(at)

    def unrecorded(self, error: str, at: datetime) -> None:
        """A round that could not reach the ledger: the first of a run is logged, the rest counted."""
        self.failed_rounds += 1
        if self.ledger_error is None:
            log_event(self.log, "gate.monitor.poll.failed", level=logging.ERROR, error=error)
        self.ledger_error = error
        self._summary_if_due(at)

    def _summary_if_due(self, at: datetime) -> None:
        if self.since is None:
            self.since = at
            return
        if at - self.since < self.summary_every:
            return
        log_event(
            self.log,
            "gate.monitor.summary.ok",
            since=self.since.isoformat(),
            rounds=self.rounds,
            unrecorded_rounds=self.failed_rounds,
            samples=dict(self.samples),
            unhealthy=dict(self.failing),
            states=dict(self.states),
        )
        self.since, self.rounds, self.failed_rounds = at, 0, 0
        self.samples.clear()
        self.failing.clear()
