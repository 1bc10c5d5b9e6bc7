"""The monitor against real HTTP servers: samples, a deployment down, a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from sqlalchemy import select

from raxx.common.clock import FrozenClock
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.board import read_board
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import HealthSample
from raxx.gate.monitor import Monitor
from tests.fixtures.gate import POLICY_FILE, T0, LocalTopology, add_release, gate_context


def _monitor(ctx: GateContext) -> Monitor:
    return Monitor(
        policy=ctx.policy, locator=ctx.locator, sessions=ctx.sessions, http=ctx.http, clock=ctx.clock, timeout=1.0
    )


async def _samples(ctx: GateContext) -> list[HealthSample]:
    async with ctx.sessions() as session:
        return list(await session.scalars(select(HealthSample).order_by(HealthSample.deployment, HealthSample.id)))


async def test_one_round_records_a_sample_per_deployment(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.services["raptor-prod"].release = "r5"
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        probes = await _monitor(ctx).poll_once()
        rows = await _samples(ctx)
        async with ctx.sessions() as session:
            board = await read_board(session)
    assert board is not None  # the releases board is refreshed every round
    assert [d.service for d in board.deployments] == ["raptor-staging", "raptor-prod", "console-prod"]
    assert {p.deployment for p in probes} == {"raptor-staging", "raptor-prod", "console-prod"}
    assert all(p.ok for p in probes), probes
    by_deployment = {r.deployment: r for r in rows}
    assert by_deployment["raptor-prod"].release_seen == "r5"
    assert by_deployment["raptor-prod"].observed_at == T0
    assert by_deployment["console-prod"].latency_ms is not None


async def test_a_deployment_down_or_not_ready_is_a_failed_sample_with_its_reason(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, tmp_path: Path
) -> None:
    staging = fake_topology.services["raptor-staging"]
    staging.broken_releases.add(staging.release)
    fake_topology.services["raptor-prod"].url = "http://127.0.0.1:9"  # nothing listens on the discard port
    fake_topology.supervisor.write_topology()
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await _monitor(ctx).poll_once()
        rows = {r.deployment: r for r in await _samples(ctx)}
    assert rows["raptor-staging"].ok is False
    assert rows["raptor-staging"].reason == "health: 503 migrations: schema mismatch"
    assert rows["raptor-prod"].ok is False
    assert rows["raptor-prod"].reason is not None
    assert rows["raptor-prod"].reason.startswith("health: ConnectError")
    assert rows["console-prod"].ok is True


async def test_a_deployment_claiming_another_environment_is_not_healthy(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.services["raptor-prod"].environment = "staging"
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await _monitor(ctx).poll_once()
        rows = {r.deployment: r for r in await _samples(ctx)}
    assert rows["raptor-prod"].ok is False
    assert rows["raptor-prod"].reason == "identity says 'staging', expected 'prod'"


async def test_the_loop_polls_on_its_interval_until_stopped(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        stop = asyncio.Event()
        task = asyncio.create_task(_monitor(ctx).run(stop, interval=0.05))
        # until two rounds are in (a fixed 0.4 s saw one round on a loaded machine)
        deadline = time.monotonic() + 15
        while len(await _samples(ctx)) < 6 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        rounds = await asyncio.wait_for(task, timeout=5)
        rows = await _samples(ctx)
    assert rounds >= 2
    assert len(rows) == 3 * rounds


def test_raxx_monitor_stops_cleanly_on_sigterm(ledger_db: ProvisionedDatabase, fake_topology: LocalTopology) -> None:
    env = {
        **os.environ,
        "GATE_DATABASE_URL": ledger_db.runtime_url,
        "GATE_TOPOLOGY_FILE": str(fake_topology.topology_file),
        "GATE_POLICY_FILE": str(POLICY_FILE),
        "GATE_MONITOR_INTERVAL": "0.2",
    }
    proc = subprocess.Popen([sys.executable, "-m", "raxx", "monitor"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _count(ledger_db):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "gate.monitor.stop.ok" in stderr
    assert _count(ledger_db) >= 3


def _count(db: ProvisionedDatabase) -> int:
    with psycopg.connect(db.runtime_url) as conn:
        row = conn.execute("SELECT count(*) FROM health_sample").fetchone()
    return int(row[0]) if row else 0


# --- samples while a deployment is starting (issue 18, item 9) ---------------------------------


async def test_a_failed_probe_while_a_deployment_is_starting_is_recorded_as_starting(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    """Each start the monitor can see: a deploy in progress, the process's own start, raxx up's start."""
    services = fake_topology.services
    services["raptor-prod"].url = "http://127.0.0.1:9"  # down: the deploy below is restarting it
    services["raptor-staging"].broken_releases.add(services["raptor-staging"].release)
    services["raptor-staging"].started_at = T0 - timedelta(seconds=10)  # up, not ready yet
    services["console-prod"].url = "http://127.0.0.1:9"
    services["console-prod"].planned_start = T0 - timedelta(seconds=5)  # raxx up started it 5 s ago
    fake_topology.supervisor.write_topology()
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await add_release(ctx, "raptor", "prod", "r1", at=T0 - timedelta(seconds=30), status="deploying")
        probes = {p.deployment: p for p in await _monitor(ctx).poll_once()}
        rows = {r.deployment: r for r in await _samples(ctx)}
    for name, why in (
        ("raptor-prod", "the deploy of r1 is in progress"),
        ("raptor-staging", "its process started at 08:59:50"),
        ("console-prod", "raxx up started it at 08:59:55"),
    ):
        assert (rows[name].ok, rows[name].starting) == (False, True), name
        assert rows[name].reason is not None
        assert rows[name].reason.startswith(f"starting ({why}): health: "), rows[name].reason
        assert probes[name].starting


async def test_a_failed_probe_after_the_start_grace_is_a_failure(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    """A minute after the deploy finished, a deploy stuck for ever, a start that names another
    environment: failures."""
    services = fake_topology.services
    services["raptor-prod"].url = "http://127.0.0.1:9"
    services["raptor-staging"].broken_releases.add(services["raptor-staging"].release)
    services["raptor-staging"].environment = "prod"  # just started, but as the wrong environment
    services["raptor-staging"].started_at = T0 - timedelta(seconds=5)
    services["console-prod"].url = "http://127.0.0.1:9"
    services["console-prod"].planned_start = T0 - timedelta(seconds=61)
    fake_topology.supervisor.write_topology()
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await add_release(ctx, "raptor", "prod", "r1", at=T0 - timedelta(minutes=10), status="deploying")
        await add_release(ctx, "raptor", "staging", "r1", at=T0 - timedelta(seconds=61))
        await _monitor(ctx).poll_once()
        rows = {r.deployment: r for r in await _samples(ctx)}
    assert {name: (r.ok, r.starting) for name, r in rows.items()} == {
        "raptor-prod": (False, False),
        "raptor-staging": (False, False),
        "console-prod": (False, False),
    }
