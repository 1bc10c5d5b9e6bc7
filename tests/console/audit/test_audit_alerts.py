"""The audit trail's alerts: a chain that does not verify pages (and resolves once it verifies), and
attempts the reconciler could only close as 'unknown', or a reconciler that fails, alert too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.cli import _register_groups, cli
from raxx.common.alerts import AlertDispatcher, Alerts, AlertSettings, recent_alerts
from raxx.common.clock import FrozenClock, SystemClock
from raxx.common.db import create_engine
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.reconciler import FAILED_ALERT_KEY, UNKNOWN_ALERT_KEY, reconcile_and_alert
from raxx.console.audit.service import AuditTrail
from tests.console.audit.helpers import audit_context, tamper
from tests.console.audit.test_cli import _seed
from tests.fixtures.receiver import Receiver, alert_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with alert_receiver() as r:
        yield r


def _verify(db: ProvisionedDatabase, receiver: Receiver, tmp_path: Path) -> int:
    _register_groups()
    env = {
        "CONSOLE_DATABASE_URL": db.runtime_url,
        "CONSOLE_AUDIT_SIGNING_KEY": "",
        "RAXX_ALERT_WEBHOOK_URL": receiver.url("/hook"),
    }
    args = ["audit", "verify", "--env-file", str(tmp_path / "absent.env")]
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False).exit_code


def test_a_chain_that_does_not_verify_pages_until_it_verifies_again(
    console_db: ProvisionedDatabase, superuser_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    _seed(console_db)
    assert _verify(console_db, receiver, tmp_path) == 0
    assert receiver.requests == []  # an intact chain alerts nobody

    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET actor_name = 'mallory' WHERE seq = 2")
    assert _verify(console_db, receiver, tmp_path) == 3
    [hook] = receiver.bodies("/hook")
    assert (hook["event"], hook["kind"], hook["dedup_key"]) == (
        "alert.triggered",
        "audit.chain_broken",
        "audit.chain_broken",
    )
    assert hook["summary"].startswith(
        "[all environments] the console's audit trail does not verify: BROKEN: first broken seq 2"
    )
    assert _verify(console_db, receiver, tmp_path) == 3
    assert len(receiver.bodies("/hook")) == 1  # still broken: deduplicated

    with tamper(superuser_url) as conn:
        conn.execute(
            "UPDATE audit_event SET actor_name = (SELECT actor_name FROM audit_event WHERE seq = 1) WHERE seq = 2"
        )
    assert _verify(console_db, receiver, tmp_path) == 0
    assert [b["event"] for b in receiver.bodies("/hook")] == ["alert.triggered", "alert.resolved"]


async def test_attempts_left_unknown_and_a_failing_reconciler_alert(
    trail: AuditTrail, runtime_engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = AlertSettings(webhook_url=receiver.url("/hook"))  # type: ignore[call-arg]
    alerts = Alerts(runtime_engine, source="console", sinks=tuple(settings.sinks()))
    later = FrozenClock(SystemClock().now() + timedelta(minutes=11))

    dead = create_engine("postgresql://nobody:x@127.0.0.1:9/none", application_name="test-dead", pool_size=1)
    assert await reconcile_and_alert(dead, None, older_than=timedelta(minutes=10), clock=later, alerts=alerts) is None
    await dead.dispose()

    await trail.attempt(audit_context(request_id="req-lost"), "order.cancel")
    report = await reconcile_and_alert(
        runtime_engine, None, older_than=timedelta(minutes=10), clock=later, alerts=alerts
    )
    assert report is not None
    assert report.closed["unknown"] == 1
    await AlertDispatcher(runtime_engine, settings=settings).deliver_due()
    async with runtime_engine.connect() as conn:
        rows = {a.dedup_key: a for a in await recent_alerts(conn)}
    [unknown_key] = [k for k in rows if k.startswith(UNKNOWN_ALERT_KEY + ":")]  # this batch's
    assert rows[FAILED_ALERT_KEY].state == "resolved"  # the reconciler works again
    assert rows[unknown_key].state == "triggered"  # a person must find out what became of it
    assert rows[unknown_key].summary.startswith("1 audit attempt(s) without an outcome after 10 min")
    events = [(b["event"], b["dedup_key"]) for b in receiver.bodies("/hook")]
    # Sent concurrently, except that a resolve waits for its own trigger.
    assert sorted(events) == [
        ("alert.resolved", FAILED_ALERT_KEY),
        ("alert.triggered", FAILED_ALERT_KEY),
        ("alert.triggered", unknown_key),
    ]
    assert events.index(("alert.triggered", FAILED_ALERT_KEY)) < events.index(("alert.resolved", FAILED_ALERT_KEY))


async def test_every_later_batch_of_unknown_attempts_alerts_once(
    trail: AuditTrail, runtime_engine: AsyncEngine, receiver: Receiver
) -> None:
    """Nothing in Raxx closes the 'unknown' alert (a person settles those attempts), so a single key
    for every batch would have the first batch's alert swallow every later one, silently, for good."""
    settings = AlertSettings(webhook_url=receiver.url("/hook"))  # type: ignore[call-arg]
    alerts = Alerts(runtime_engine, source="console", sinks=tuple(settings.sinks()))
    now = SystemClock().now()
    window = timedelta(minutes=10)

    await trail.attempt(audit_context(request_id="req-lost-monday"), "order.cancel")
    await reconcile_and_alert(
        runtime_engine, None, older_than=window, clock=FrozenClock(now + window * 1.1), alerts=alerts
    )
    await trail.attempt(audit_context(request_id="req-lost-friday"), "order.cancel")
    for _ in range(2):  # the second pass finds nothing new: it sends nothing
        await reconcile_and_alert(
            runtime_engine, None, older_than=window, clock=FrozenClock(now + window * 2.2), alerts=alerts
        )
    await AlertDispatcher(runtime_engine, settings=settings).deliver_due()

    unknown = [b for b in receiver.bodies("/hook") if b["dedup_key"].startswith(UNKNOWN_ALERT_KEY)]
    assert [b["event"] for b in unknown] == ["alert.triggered", "alert.triggered"]
    assert len({b["dedup_key"] for b in unknown}) == 2
    assert all(b["summary"].startswith("[all environments] 1 audit attempt(s) without an outcome") for b in unknown)
