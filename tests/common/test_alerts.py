"""Alerts reach a local receiver as a webhook, a Slack message and a PagerDuty event:
payloads, deduplication, retry after a 500, resolve by the same dedup_key, and an action
that never waits for a sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.alerts import KINDS, AlertDispatcher, Alerts, AlertSettings, recent_alerts
from raxx.common.alerts.sinks import alert_settings
from raxx.common.alerts.tables import alert_delivery
from raxx.common.db import create_engine
from raxx.common.errors import ConfigError
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.receiver import Receiver, alert_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with alert_receiver() as r:
        yield r


@pytest.fixture
async def engine(console_db: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(console_db.runtime_url, application_name="test-alerts", pool_size=2)
    yield engine
    await engine.dispose()


def settings_for(receiver: Receiver, **overrides: object) -> AlertSettings:
    values: dict[str, object] = {
        "webhook_url": receiver.url("/hook"),
        "webhook_token": "hook-token",
        "slack_webhook_url": receiver.url("/slack"),
        "pagerduty_routing_key": "R0UT1NGKEY",
        "pagerduty_url": receiver.url("/pagerduty"),
        "console_url": "https://console.example",
        "retry_base_s": 0.01,
    }
    values.update(overrides)
    return AlertSettings(**values)  # type: ignore[arg-type]


def pair(engine: AsyncEngine, settings: AlertSettings) -> tuple[Alerts, AlertDispatcher]:
    sinks = settings.sinks()
    return Alerts(engine, source="console", sinks=tuple(sinks)), AlertDispatcher(engine, settings=settings, sinks=sinks)


async def statuses(engine: AsyncEngine) -> list[tuple[str, str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                alert_delivery.c.sink, alert_delivery.c.action, alert_delivery.c.status, alert_delivery.c.attempts
            ).order_by(alert_delivery.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_each_sink_gets_its_own_payload_naming_the_environment(engine: AsyncEngine, receiver: Receiver) -> None:
    alerts, dispatcher = pair(engine, settings_for(receiver))
    raised = await alerts.raise_alert(
        "identity.mismatch",
        environment="prod",
        summary="Raptor at :8102 says it is staging",
        details={"backend_says": "staging"},
        dedup_key="identity.mismatch:prod",
    )
    assert raised is not None
    assert raised.new
    assert await dispatcher.deliver_due() == 3

    [hook] = receiver.bodies("/hook")
    assert hook["event"] == "alert.triggered"
    assert hook["kind"] == "identity.mismatch"
    assert hook["environment"] == "prod"
    assert hook["environment_words"] == "PRODUCTION (prod)"
    assert hook["summary"] == "[PRODUCTION (prod)] Raptor at :8102 says it is staging"
    assert hook["details"] == {"backend_says": "staging"}
    assert hook["dedup_key"] == "identity.mismatch:prod"
    assert hook["severity"] == "critical"
    [headers] = [h for p, h, _ in receiver.requests if p == "/hook"]
    assert headers["authorization"] == "Bearer hook-token"

    [slack] = receiver.bodies("/slack")
    assert slack["text"] == ":rotating_light: CRITICAL [PRODUCTION (prod)] Raptor at :8102 says it is staging"
    assert {"type": "mrkdwn", "text": "*Environment*\nPRODUCTION (prod)"} in slack["blocks"][1]["fields"]
    assert "https://console.example/alerts" in slack["blocks"][-1]["elements"][0]["text"]

    [pd] = receiver.bodies("/pagerduty")
    assert pd["routing_key"] == "R0UT1NGKEY"
    assert pd["event_action"] == "trigger"
    assert pd["dedup_key"] == "identity.mismatch:prod"
    payload = pd["payload"]
    assert payload["summary"] == "[PRODUCTION (prod)] Raptor at :8102 says it is staging"
    assert payload["source"] == "console"
    assert payload["severity"] == "critical"
    assert payload["class"] == "identity.mismatch"
    assert payload["custom_details"] == {"environment": "PRODUCTION (prod)", "backend_says": "staging"}
    assert pd["client_url"] == "https://console.example/alerts"

    assert await statuses(engine) == [
        ("webhook", "trigger", "delivered", 1),
        ("slack", "trigger", "delivered", 1),
        ("pagerduty", "trigger", "delivered", 1),
    ]


async def test_a_repeat_while_open_is_counted_not_sent_again(engine: AsyncEngine, receiver: Receiver) -> None:
    alerts, dispatcher = pair(engine, settings_for(receiver))
    first = await alerts.raise_alert("trading.halted", environment="prod", summary="trading halted", dedup_key="h")
    again = await alerts.raise_alert("trading.halted", environment="prod", summary="trading halted", dedup_key="h")
    assert first is not None
    assert again is not None
    assert (first.new, again.new, again.id) == (True, False, first.id)
    await dispatcher.deliver_due()
    assert len(receiver.bodies("/pagerduty")) == 1
    async with engine.connect() as conn:
        [row] = await recent_alerts(conn)
    assert (row.occurrences, row.state, len(row.deliveries)) == (2, "triggered", 3)


async def test_an_open_alert_stays_listed_however_many_came_after(engine: AsyncEngine) -> None:
    """Sixty break-glass sign-ins used to push an open prod halt off ``/alerts`` (the last 50)."""
    alerts = Alerts(engine, source="console", sinks=())
    await alerts.raise_alert("trading.halted", environment="prod", summary="trading halted", dedup_key="halt")
    for n in range(60):
        await alerts.raise_alert("auth.break_glass", environment=None, summary=f"sign-in {n}", dedup_key=f"bg:{n}")
        await alerts.resolve_alert(f"bg:{n}")
    async with engine.connect() as conn:
        listed = await recent_alerts(conn, limit=50)
    assert len(listed) == 51
    assert [a.dedup_key for a in listed if a.state == "triggered"] == ["halt"]
    assert listed[0].summary == "sign-in 59"  # newest first


async def test_resolve_sends_the_same_dedup_key_and_a_new_trigger_opens_again(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    alerts, dispatcher = pair(engine, settings_for(receiver))
    await alerts.raise_alert("health.failing", environment="staging", summary="down", dedup_key="health:staging")
    assert await alerts.resolve_alert("health:staging")
    assert not await alerts.resolve_alert("health:staging")  # nothing open any more
    await dispatcher.deliver_due()

    actions = [(b["event_action"], b["dedup_key"]) for b in receiver.bodies("/pagerduty")]
    assert actions == [("trigger", "health:staging"), ("resolve", "health:staging")]
    resolve = receiver.bodies("/pagerduty")[1]
    assert resolve == {"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": "health:staging"}
    assert receiver.bodies("/hook")[1]["event"] == "alert.resolved"
    assert receiver.bodies("/slack")[1]["text"].startswith(":white_check_mark: RESOLVED [STAGING] down")

    reopened = await alerts.raise_alert(
        "health.failing", environment="staging", summary="down", dedup_key="health:staging"
    )
    assert reopened is not None
    assert reopened.new


async def test_a_sink_answering_500_is_retried_with_backoff_and_logged(
    engine: AsyncEngine, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(receiver, webhook_url=None, slack_webhook_url=None)
    alerts, dispatcher = pair(engine, settings)
    receiver.fail_next = 1
    await alerts.raise_alert("soak.failed", environment="staging", summary="soak failed", dedup_key="soak")
    with caplog.at_level("WARNING", logger="raxx.alerts"):
        assert await dispatcher.deliver_due() == 1
    assert [b["event_action"] for b in receiver.bodies("/pagerduty")] == ["trigger", "trigger"]
    assert await statuses(engine) == [("pagerduty", "trigger", "delivered", 2)]
    retries = [r for r in caplog.records if r.getMessage() == "alert.delivery.retry"]
    assert [(r.sink, r.status) for r in retries] == [("pagerduty", 500)]  # type: ignore[attr-defined]


async def test_a_sink_still_failing_is_left_for_a_later_pass_and_the_resolve_waits_for_it(
    engine: AsyncEngine, receiver: Receiver
) -> None:
    settings = settings_for(receiver, webhook_url=None, slack_webhook_url=None, attempts_per_pass=2)
    alerts, dispatcher = pair(engine, settings)
    receiver.fail_next = 2
    await alerts.raise_alert("soak.failed", environment="staging", summary="soak failed", dedup_key="soak")
    await alerts.resolve_alert("soak")
    assert await dispatcher.deliver_due() == 0  # the trigger failed twice; its resolve must not overtake it
    assert await statuses(engine) == [("pagerduty", "trigger", "pending", 2), ("pagerduty", "resolve", "pending", 0)]
    async with engine.begin() as conn:  # the backoff has passed
        await conn.execute(sa.update(alert_delivery).values(next_attempt_at=sa.func.now()))
    assert await dispatcher.deliver_due() == 2
    assert [b["event_action"] for b in receiver.bodies("/pagerduty")] == ["trigger", "trigger", "trigger", "resolve"]


async def test_raising_never_waits_for_a_sink(engine: AsyncEngine) -> None:
    """A sink that hangs (a port that accepts and never answers) does not slow the raise."""
    hanging = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = hanging.sockets[0].getsockname()[1]
    settings = AlertSettings(webhook_url=f"http://127.0.0.1:{port}/hook", timeout_s=5)  # type: ignore[call-arg]
    alerts, dispatcher = pair(engine, settings)
    task = asyncio.create_task(dispatcher.run(alerts.queued, interval=30))
    try:
        started = time.monotonic()
        raised = await alerts.raise_alert("trading.halted", environment="prod", summary="halted")
        assert raised is not None
        assert time.monotonic() - started < 1.0
    finally:
        task.cancel()
        hanging.close()


async def test_an_alert_that_cannot_be_recorded_does_not_raise(receiver: Receiver) -> None:
    dead = create_engine("postgresql://nobody@127.0.0.1:1/none", application_name="test", pool_size=1)
    alerts = Alerts(dead, source="console", sinks=("webhook",))
    assert await alerts.raise_alert("trading.halted", environment="prod", summary="halted") is None
    await dead.dispose()


def test_every_kind_has_a_severity_pagerduty_knows() -> None:
    assert {k.severity for k in KINDS} <= {"critical", "error", "warning", "info"}
    assert len({k.name for k in KINDS}) == len(KINDS)


def test_a_bad_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAXX_ALERT_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="RAXX_ALERT_TIMEOUT_S"):
        alert_settings()


async def test_a_sink_refusing_the_request_for_good_is_not_retried(engine: AsyncEngine, receiver: Receiver) -> None:
    """A 4xx (a revoked webhook, an unknown routing key) will not change by sending it again."""
    settings = settings_for(receiver, webhook_url=None, slack_webhook_url=None)
    alerts, dispatcher = pair(engine, settings)
    receiver.fail_next, receiver.fail_status = 1, 400
    await alerts.raise_alert("soak.failed", environment="staging", summary="soak failed", dedup_key="soak")
    assert await dispatcher.deliver_due() == 0
    assert len(receiver.bodies("/pagerduty")) == 1
    assert await statuses(engine) == [("pagerduty", "trigger", "failed", 1)]
