"""The monitor's log: changes and a periodic summary, so a healthy day stays under 500 lines;
JSON lines stay machine-readable, and a readable format exists for a person at a terminal."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from raxx.common.clock import FrozenClock
from raxx.common.logging import JsonFormatter, configure_logging, log_event
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import HealthSample
from raxx.gate.monitor import Monitor
from raxx.gate.monitor_log import MonitorLog
from tests.fixtures.gate import T0, LocalTopology, gate_context

DAY = timedelta(days=1)
INTERVAL = timedelta(seconds=30)  # raxx up's and the default GATE_MONITOR_INTERVAL
DEPLOYMENTS = ("raptor-staging", "raptor-prod", "console-prod")


@dataclass(frozen=True)
class Sample:
    deployment: str
    ok: bool = True
    starting: bool = False
    wrong_environment: bool = False
    reason: str | None = None


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, Lines]]:
    logger = logging.getLogger("test.monitor.day")
    handler = Lines()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, handler
    logger.removeHandler(handler)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def simulate_day(log: MonitorLog, failing: dict[str, range]) -> None:
    """A day of rounds every 30 s; ``failing``: the rounds in which a deployment fails."""
    rounds = int(DAY / INTERVAL)
    for n in range(rounds):
        samples = [
            Sample(d, ok=n not in failing.get(d, range(0)), reason=None if n not in failing.get(d, range(0)) else "503")
            for d in DEPLOYMENTS
        ]
        log.recorded(samples, T0 + n * INTERVAL)  # type: ignore[arg-type]


def test_a_healthy_day_is_the_first_states_and_a_summary_every_15_minutes(
    lines: tuple[logging.Logger, Lines],
) -> None:
    logger, handler = lines
    simulate_day(MonitorLog(logger, timedelta(minutes=15)), {})
    records = [json.loads(line) for line in handler.lines]  # every line is one JSON object
    events = [r["event"] for r in records]
    assert len(handler.lines) < 500
    assert events.count("gate.monitor.state.changed") == 3  # each deployment's first state
    assert events.count("gate.monitor.summary.ok") == 95  # 24 h / 15 min, the first starts the clock
    assert len(events) == 98
    summary = records[-1]
    assert summary["rounds"] == 30
    assert summary["samples"] == dict.fromkeys(DEPLOYMENTS, 30)
    assert summary["unhealthy"] == {}


def test_a_day_with_an_outage_adds_a_line_per_change_not_per_round(lines: tuple[logging.Logger, Lines]) -> None:
    logger, handler = lines
    simulate_day(MonitorLog(logger, timedelta(minutes=15)), {"raptor-prod": range(100, 220)})  # one hour down
    changes = [json.loads(line) for line in handler.lines if "state.changed" in line]
    prod = [(c["before"], c["after"], c["reason"]) for c in changes if c["deployment"] == "raptor-prod"]
    assert prod == [(None, "ok", None), ("ok", "failing", "503"), ("failing", "ok", None)]
    assert len(handler.lines) == 98 + 2
    unhealthy = [json.loads(line)["unhealthy"] for line in handler.lines if "summary.ok" in line]
    assert sum(u.get("raptor-prod", 0) for u in unhealthy) == 120


def test_a_ledger_outage_logs_its_start_and_end_once(lines: tuple[logging.Logger, Lines]) -> None:
    logger, handler = lines
    log = MonitorLog(logger, timedelta(minutes=15))
    for n in range(10):
        log.unrecorded("OperationalError: connection refused", T0 + n * INTERVAL)
    log.recorded([Sample(d) for d in DEPLOYMENTS], T0 + 10 * INTERVAL)  # type: ignore[misc]
    events = [json.loads(line)["event"] for line in handler.lines]
    assert events == ["gate.monitor.poll.failed", "gate.monitor.poll.recovered", *["gate.monitor.state.changed"] * 3]


async def _sample_count(ctx: GateContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(HealthSample)) or 0)


async def test_the_real_monitor_says_nothing_in_a_healthy_round(
    ledger_db: ProvisionedDatabase,
    fake_topology: LocalTopology,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    """Real rounds against real HTTP servers and the ledger, logged as in production (JSON on
    stderr, httpx included): the lines do not grow with the rounds."""
    configure_logging("INFO", json_output=True)
    async with gate_context(ledger_db, clock=FrozenClock(T0), topology_file=fake_topology.topology_file) as ctx:
        monitor = Monitor(
            policy=ctx.policy, locator=ctx.locator, sessions=ctx.sessions, http=ctx.http, clock=ctx.clock, timeout=1.0
        )
        stop = asyncio.Event()
        task = asyncio.create_task(monitor.run(stop, interval=0.02))
        # until ten rounds are in (three samples each; a fixed 1.5 s was too short under load)
        deadline = time.monotonic() + 20
        while await _sample_count(ctx) < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        rounds = await asyncio.wait_for(task, timeout=10)
    output = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    events = [json.loads(line)["event"] for line in output]
    assert rounds >= 10
    assert events == [
        "db.budget.ok",  # the context's pool, stated once
        "gate.monitor.start.ok",
        *["gate.monitor.state.changed"] * 3,
        "gate.monitor.stop.ok",
    ], output


def test_the_console_format_is_readable_with_the_same_fields(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    monkeypatch.setenv("RAXX_LOG_FORMAT", "console")
    configure_logging("INFO")
    log_event(
        logging.getLogger("raxx.gate.monitor"),
        "gate.monitor.state.changed",
        level=logging.WARNING,
        deployment="raptor-prod",
        before="ok",
        after="failing",
        reason="health: 503",
    )
    [line] = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING gate\.monitor\.state\.changed deployment=raptor-prod before=ok after=failing "
        r'reason="health: 503"',
        line,
    ), line
    monkeypatch.setenv("RAXX_LOG_FORMAT", "json")
    configure_logging("INFO")
    log_event(logging.getLogger("raxx.gate.monitor"), "gate.monitor.summary.ok", rounds=30)
    assert json.loads(capsys.readouterr().err)["rounds"] == 30
