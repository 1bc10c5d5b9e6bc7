"""The gate's and the monitor's alerts reach a local receiver: an automatic rollback, a deployment
failing its health, one naming another environment, and the monitor unable to record (sent
directly, then resolved through the outbox once the ledger answers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from raxx.common.alerts import AlertDispatcher, Alerts, AlertSettings, recent_alerts
from raxx.common.clock import FrozenClock
from raxx.common.db import create_engine, session_factory
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.context import GateContext
from raxx.gate.flows import promote_flow
from raxx.gate.monitor import Monitor
from raxx.gate.monitor_alerts import MonitorAlerts
from raxx.gate.records import approve
from raxx.gate.verdict import ExitCode
from tests.fixtures.gate import T0, LocalTopology, add_release, add_samples, gate_context
from tests.fixtures.receiver import Receiver, alert_receiver
from tests.gate.test_flows import _push_and_soak, _request

H = timedelta(hours=1)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with alert_receiver() as r:
        monkeypatch.setenv("RAXX_ALERT_PAGERDUTY_ROUTING_KEY", "PDKEY")
        monkeypatch.setenv("RAXX_ALERT_PAGERDUTY_URL", r.url("/pagerduty"))
        monkeypatch.setenv("RAXX_ALERT_RETRY_BASE_S", "0.01")
        yield r


def _monitor(ctx: GateContext, alerts: Alerts | None = None) -> Monitor:
    outbox = alerts or Alerts(ctx.engine, source="monitor")
    return Monitor(
        policy=ctx.policy,
        locator=ctx.locator,
        sessions=ctx.sessions,
        http=ctx.http,
        clock=ctx.clock,
        timeout=1.0,
        alerts=MonitorAlerts(outbox, AlertDispatcher(ctx.engine), failures_to_alert=2),
    )


async def test_an_automatic_rollback_pages_naming_the_environment(
    receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    fake_topology.services["raptor-prod"].broken_releases.add("r2")
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await add_release(ctx, "raptor", "prod", "r0", at=T0 - 48 * H, trigger="dispatch")
        await _push_and_soak(ctx, clock, "r2")
        await approve(ctx, app="raptor", environment="prod", release_id="r2", approver="bob", comment=None)
        result = await promote_flow(ctx, _request("r2"))
        assert result.exit_code is ExitCode.ROLLED_BACK
        assert await AlertDispatcher(ctx.engine).deliver_due() == 1
    [pd] = receiver.bodies("/pagerduty")
    assert pd["event_action"] == "trigger"
    assert pd["payload"]["class"] == "release.rolled_back"
    assert pd["payload"]["source"] == "gate"
    assert pd["payload"]["summary"].startswith("[PRODUCTION (prod)] raptor-prod: smoke failed (")
    assert pd["payload"]["summary"].endswith("rolled back to r0")
    assert pd["payload"]["custom_details"]["bad_release"] == "r2"


async def test_a_deployment_failing_its_health_alerts_after_consecutive_failures_and_resolves(
    receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    prod = fake_topology.services["raptor-prod"]
    good_url = prod.url
    prod.url = "http://127.0.0.1:9"
    fake_topology.supervisor.write_topology()
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        monitor = _monitor(ctx)
        dispatcher = AlertDispatcher(ctx.engine)
        await monitor.round()
        await dispatcher.deliver_due()
        assert receiver.bodies("/pagerduty") == []  # one failure is not yet an alert
        await monitor.round()
        await monitor.round()  # still failing: deduplicated, nothing new
        await dispatcher.deliver_due()
        [trigger] = receiver.bodies("/pagerduty")
        assert trigger["dedup_key"] == "health.failing:raptor-prod"
        assert trigger["payload"]["summary"].startswith(
            "[PRODUCTION (prod)] raptor-prod failed its last 2 health checks: health: ConnectError"
        )
        prod.url = good_url
        fake_topology.supervisor.write_topology()
        await monitor.round()
        await dispatcher.deliver_due()
        async with ctx.engine.connect() as conn:
            [row] = await recent_alerts(conn)
    assert receiver.bodies("/pagerduty")[1] == {
        "routing_key": "PDKEY",
        "event_action": "resolve",
        "dedup_key": "health.failing:raptor-prod",
    }
    assert (row.kind, row.state, row.occurrences) == ("health.failing", "resolved", 1)


async def test_a_deployment_naming_another_environment_alerts(
    receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.services["raptor-prod"].environment = "staging"
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await _monitor(ctx).round()
        await AlertDispatcher(ctx.engine).deliver_due()
    [pd] = receiver.bodies("/pagerduty")
    assert pd["dedup_key"] == "identity.mismatch:monitor:raptor-prod"
    assert pd["payload"]["summary"] == "[PRODUCTION (prod)] raptor-prod identity says 'staging', expected 'prod'"


async def test_a_monitor_that_cannot_record_pages_directly_and_resolves_through_the_ledger(
    receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    dead = create_engine("postgresql://nobody:x@127.0.0.1:9/none", application_name="test-dead", pool_size=1)
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        monitor = _monitor(ctx, alerts=Alerts(dead, source="monitor"))
        monitor.sessions = session_factory(dead)
        assert monitor.alerts is not None
        monitor.alerts.dispatcher = AlertDispatcher(dead, settings=AlertSettings())
        await monitor.round()
        await monitor.round()
        for task in list(monitor.alerts._tasks):
            await task
        [trigger] = receiver.bodies("/pagerduty")
        assert trigger["event_action"] == "trigger"
        assert trigger["dedup_key"] == "monitor.unrecorded"
        assert trigger["payload"]["summary"].startswith(
            "[all environments] the monitor cannot record health samples in the ledger:"
        )
        # The ledger answers again: the alert is recorded (not sent twice) and resolved.
        monitor.sessions = ctx.sessions
        monitor.alerts.alerts = Alerts(ctx.engine, source="monitor")
        await monitor.round()
        assert await AlertDispatcher(ctx.engine).deliver_due() == 1
        async with ctx.engine.connect() as conn:
            [row] = await recent_alerts(conn)
    await dead.dispose()
    assert [b["event_action"] for b in receiver.bodies("/pagerduty")] == ["trigger", "resolve"]
    assert (row.kind, row.state, [d["action"] for d in row.deliveries]) == (
        "monitor.unrecorded",
        "resolved",
        ["resolve"],
    )


@pytest.mark.parametrize("silent_s", [300, 60])
async def test_a_new_monitor_after_a_silence_resolves_the_page_an_earlier_one_may_have_sent(
    silent_s: int, receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    """A rotated ledger credential: the old process paged directly and died before the ledger came
    back; the new one, restarted with the new credential, finds the silence and resolves the page.
    A restart's ordinary gap (two rounds of 30 s, not three) leaves no record and sends nothing."""
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await add_samples(ctx, "raptor-staging", T0 - H, T0 - timedelta(seconds=silent_s - 1), release="r1")
        monitor = _monitor(ctx)
        await monitor.round()
        await monitor.round()  # the second round finds nothing more to resolve
        await AlertDispatcher(ctx.engine).deliver_due()
        async with ctx.engine.connect() as conn:
            rows = [r for r in await recent_alerts(conn) if r.kind == "monitor.unrecorded"]
    sent = [(b["event_action"], b["dedup_key"]) for b in receiver.bodies("/pagerduty")]
    if silent_s < 90:
        assert (rows, sent) == ([], [])
        return
    assert sent == [("resolve", "monitor.unrecorded")]
    [row] = rows
    assert row.state == "resolved"
    assert row.summary == (
        "the monitor recorded no health samples from 2026-03-02 08:55:00 to 09:00:00 UTC (300 s);"
        " it records again (restarted)"
    )


async def test_a_soak_below_the_success_threshold_alerts_and_resolves_when_it_recovers(
    receiver: Receiver, ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await _push_and_soak(ctx, clock, "r2", hours=2)  # 2 h of healthy samples on staging
        start = clock.now()
        clock.advance(H)
        await add_samples(ctx, "raptor-staging", start, clock.now(), release="r2", ok=False, reason="503")
        monitor, dispatcher = _monitor(ctx), AlertDispatcher(ctx.engine)
        await monitor.round()
        await dispatcher.deliver_due()
        [trigger] = receiver.bodies("/pagerduty")
        assert trigger["dedup_key"] == "soak.failed:raptor-staging"
        assert trigger["payload"]["summary"].startswith(
            "[STAGING] r2 soaking on raptor-staging toward prod: success_rate: 66."
        )
        start = clock.now()
        clock.advance(200 * H)  # long healthy: the newest window is all green again
        await add_samples(ctx, "raptor-staging", start, clock.now(), release="r2")
        await monitor.round()
        await dispatcher.deliver_due()
    assert [(b["event_action"], b["dedup_key"]) for b in receiver.bodies("/pagerduty")] == [
        ("trigger", "soak.failed:raptor-staging"),
        ("resolve", "soak.failed:raptor-staging"),
    ]
