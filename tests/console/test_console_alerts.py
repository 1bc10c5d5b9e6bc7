"""The console's alerts: a halt in prod and a backend naming another environment reach a sink
(a local receiver) naming the environment in words, resolve when the condition clears, and
are listed on /alerts with their deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from raxx.common.alerts import Alerts
from raxx.common.alerts.outbox import Raised
from raxx.common.provision import ProvisionedDatabase
from raxx.console.halt_watch import check_halts
from raxx.console.raptor.identity import IdentityStatus
from tests.console.conftest import PASSWORD, RunningRaptor, add_team, raptor_tokens
from tests.console.helpers import hidden_fields, signed_in
from tests.fixtures.apps import add_user, asgi_client, console_app, csrf_from, login, write_registry
from tests.fixtures.receiver import Receiver, alert_receiver
from tests.fixtures.servers import serve


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    with alert_receiver() as r:
        monkeypatch.setenv("RAXX_ALERT_WEBHOOK_URL", r.url("/hook"))
        monkeypatch.setenv("RAXX_ALERT_PAGERDUTY_ROUTING_KEY", "PDKEY")
        monkeypatch.setenv("RAXX_ALERT_PAGERDUTY_URL", r.url("/pagerduty"))
        yield r


@pytest.fixture
async def console(
    receiver: Receiver, console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> AsyncIterator[httpx.AsyncClient]:
    await add_team(console_db)
    async with asgi_client(console_app(console_db, registry_file, raptor_tokens(raptors))) as client:
        yield client


def _undelivered(db: ProvisionedDatabase) -> int:
    with psycopg.connect(db.owner_url) as conn:
        row = conn.execute("SELECT count(*) FROM alert_delivery WHERE status <> 'delivered'").fetchone()
    return int(row[0]) if row else 0


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """The dispatcher sends in the background: wait for what it should have done."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "the dispatcher did not deliver in time"
        await asyncio.sleep(0.05)


async def alerts_page_showing(console: httpx.AsyncClient, *needles: str, timeout: float = 10.0) -> str:
    """``/alerts`` once it shows every needle: the dispatcher records a delivery after the sink
    has answered, a moment after the receiver saw the request."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        page = await console.get("/alerts")
        assert page.status_code == 200
        if all(needle in page.text for needle in needles):
            return page.text
        assert asyncio.get_running_loop().time() < deadline, (needles, page.text)
        await asyncio.sleep(0.1)


async def _confirmed(console: httpx.AsyncClient, url: str, form: dict[str, str], target: str) -> httpx.Response:
    ask = await console.post(url, data=form)
    assert ask.status_code == 200, ask.text
    fields = hidden_fields(ask.text, "confirm-form")
    return await console.post(url, data={**fields, "typed_env": "prod", "typed_target": target})


async def test_a_halt_in_prod_pages_and_the_resume_resolves_it(console: httpx.AsyncClient, receiver: Receiver) -> None:
    csrf = await signed_in(console)
    halted = await _confirmed(
        console, "/prod/trading/halt", {"csrf_token": csrf, "environment": "prod", "reason": "broker outage"}, "HALT"
    )
    assert halted.status_code == 303
    await until(lambda: len(receiver.bodies("/pagerduty")) == 1)
    [hook] = receiver.bodies("/hook")
    assert hook["kind"] == "trading.halted"
    assert hook["summary"] == "[PRODUCTION (prod)] trading halted by alice: broker outage"
    assert receiver.bodies("/pagerduty")[0]["dedup_key"] == "trading.halted:prod"

    await alerts_page_showing(
        console,
        'data-alert="trading.halted" data-state="triggered" data-env="prod"',
        'data-delivery="pagerduty:trigger" data-status="delivered"',
    )

    await console.post("/logout", data={"csrf_token": csrf})
    await signed_in(console, "victor")  # a role on staging only: prod's alerts are not his to see
    assert 'data-alerts="none"' in (await console.get("/alerts")).text
    await console.post("/logout", data={"csrf_token": csrf_from((await console.get("/staging/")).text)})
    csrf = await signed_in(console)

    resumed = await _confirmed(console, "/prod/trading/resume", {"csrf_token": csrf, "environment": "prod"}, "RESUME")
    assert resumed.status_code == 303
    await until(lambda: len(receiver.bodies("/pagerduty")) == 2)
    resolve = receiver.bodies("/pagerduty")[1]
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", "trading.halted:prod")
    await alerts_page_showing(console, 'data-state="resolved"')


async def test_a_halt_on_staging_alerts_nobody(console: httpx.AsyncClient, receiver: Receiver) -> None:
    csrf = await signed_in(console)
    done = await console.post(
        "/staging/trading/halt", data={"csrf_token": csrf, "environment": "staging", "reason": "drill"}
    )
    assert done.status_code == 303
    await console.post("/staging/trading/resume", data={"csrf_token": csrf, "environment": "staging"})
    assert 'data-alerts="none"' in (await console.get("/alerts")).text
    assert receiver.requests == []


async def test_a_halt_made_on_raptor_directly_pages_and_a_resume_there_resolves_it(
    receiver: Receiver, console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> None:
    """Not through the console: an admin token on Raptor itself. The console's halt watch sees
    prod's switch (staging's halts page nobody), pages once however often it looks, and resolves
    when Raptor runs again."""
    app = console_app(console_db, registry_file, raptor_tokens(raptors))
    async with asgi_client(app):
        state = app.state.console
        assert await check_halts(state, state.alerts) == {"prod": False}
        with raptors["prod"].direct() as prod, raptors["staging"].direct() as staging:
            bot = {"X-Raxx-Actor": "incident-bot"}
            try:
                for raptor in (prod, staging):
                    answer = raptor.post("/v1/trading/halt", json={"reason": "vendor incident"}, headers=bot)
                    assert answer.status_code == 200, answer.text
                assert await check_halts(state, state.alerts) == {"prod": True}
                assert await check_halts(state, state.alerts) == {"prod": True}
                await until(lambda: len(receiver.bodies("/pagerduty")) == 1)
            finally:
                for raptor in (prod, staging):
                    raptor.post("/v1/trading/resume", headers=bot)
        [hook] = receiver.bodies("/hook")
        assert (hook["kind"], hook["environment"]) == ("trading.halted", "prod")
        assert hook["summary"].endswith("by incident-bot: vendor incident"), hook["summary"]
        assert receiver.bodies("/pagerduty")[0]["dedup_key"] == "trading.halted:prod"

        assert await check_halts(state, state.alerts) == {"prod": False}
        await until(lambda: len(receiver.bodies("/pagerduty")) == 2)
    resolve = receiver.bodies("/pagerduty")[1]
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", "trading.halted:prod")
    assert len(receiver.bodies("/pagerduty")) == 2  # the second look while halted paged nobody again


class _OperatorBetween(Alerts):
    """The outbox as the halt watch sees it, with an operator's action landing between the
    watch's read of the switch and its raise or resolve (the race the watch must lose)."""

    def __init__(self, alerts: Alerts, operator: Callable[[], Awaitable[None]]) -> None:
        super().__init__(alerts.engine, source=alerts.source, sinks=alerts.sinks)
        self.operator: Callable[[], Awaitable[None]] | None = operator

    async def _operator_first(self) -> None:
        if self.operator is not None:
            operator, self.operator = self.operator, None
            await operator()

    async def raise_alert(self, *args: Any, **kwargs: Any) -> Raised | None:
        await self._operator_first()
        return await super().raise_alert(*args, **kwargs)

    async def resolve_alert(self, *args: Any, **kwargs: Any) -> bool:
        await self._operator_first()
        return await super().resolve_alert(*args, **kwargs)


async def test_the_halt_watch_loses_a_race_with_an_operator_either_way(
    receiver: Receiver, console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> None:
    """A resume between the watch's read (halted) and its raise opens no page; a halt between its
    read (running) and its resolve leaves the operator's page open."""
    app = console_app(console_db, registry_file, raptor_tokens(raptors))
    key = "trading.halted:prod"
    async with asgi_client(app):
        state = app.state.console
        with raptors["prod"].direct() as prod:
            bot = {"X-Raxx-Actor": "incident-bot"}
            assert prod.post("/v1/trading/halt", json={"reason": "drill"}, headers=bot).status_code == 200
            assert await check_halts(state, state.alerts) == {"prod": True}  # paged

            async def resume() -> None:  # the operator, through the console: Raptor, then the outbox
                assert prod.post("/v1/trading/resume", headers=bot).status_code == 200
                assert await state.alerts.resolve_alert(key)

            assert await check_halts(state, _OperatorBetween(state.alerts, resume)) == {"prod": True}
            assert not await state.alerts.is_open(key)  # the stale raise was left out

            async def halt() -> None:
                assert prod.post("/v1/trading/halt", json={"reason": "real"}, headers=bot).status_code == 200
                assert await state.alerts.raise_alert("trading.halted", environment="prod", summary="x", dedup_key=key)

            try:
                assert await check_halts(state, _OperatorBetween(state.alerts, halt)) == {"prod": False}
                assert await state.alerts.is_open(key)  # the stale resolve was left out
            finally:
                prod.post("/v1/trading/resume", headers=bot)
        await until(lambda: len(receiver.bodies("/pagerduty")) == 3)
    actions = [b["event_action"] for b in receiver.bodies("/pagerduty")]
    assert actions == ["trigger", "resolve", "trigger"]


def _switchable_backend(claims: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/identity")
    async def identity() -> dict[str, str]:
        return {"environment": claims[0], "release": "r1", "database": "x:1", "started_at": "2026-11-26T00:00:00Z"}

    return app


async def test_a_backend_naming_another_environment_alerts_until_it_names_its_own(
    receiver: Receiver, console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]
) -> None:
    claims = ["prod"]
    with serve(_switchable_backend(claims)) as backend:
        registry = write_registry(tmp_path / "envs.toml", {"staging": backend.url, "prod": raptors["prod"].url})
        await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
        app = console_app(console_db, registry, {"staging": "s", "prod": raptors["prod"].token})
        async with asgi_client(app) as client:
            await login(client, "alice", PASSWORD)
            staging = app.state.console.clients["staging"]
            assert (await staging.check_identity(force=True)).state == "misconfigured"
            await staging.check_identity(force=True)  # still wrong: no second alert
            await until(lambda: len(receiver.bodies("/pagerduty")) == 1)
            [pd] = receiver.bodies("/pagerduty")
            assert pd["payload"]["summary"].startswith("[STAGING] Raptor at http://127.0.0.1:")
            assert "says it is 'prod'" in pd["payload"]["summary"]
            assert pd["dedup_key"] == "identity.mismatch:console:staging"

            claims[0] = "staging"
            staging.status = IdentityStatus(state="unreachable", error="a dropped connection in between")
            assert (await staging.check_identity(force=True)).ok
            await until(lambda: len(receiver.bodies("/pagerduty")) == 2)
            assert receiver.bodies("/pagerduty")[1] == {
                "routing_key": "PDKEY",
                "event_action": "resolve",
                "dedup_key": "identity.mismatch:console:staging",
            }
            page = await client.get("/alerts")
            assert 'data-alert="identity.mismatch" data-state="resolved" data-env="staging"' in page.text


async def test_a_console_restarted_during_a_mismatch_resolves_it_when_the_backend_names_its_own(
    receiver: Receiver, console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    """A new console process does not know what the last one raised: left open, the alert would never
    resolve, and the next mismatch in that environment would be deduplicated into silence."""
    claims = ["prod"]
    with serve(_switchable_backend(claims)) as backend, serve(_switchable_backend(["prod"])) as prod:
        registry = write_registry(tmp_path / "envs.toml", {"staging": backend.url, "prod": prod.url})
        tokens = {"staging": "s", "prod": "p"}

        before = console_app(console_db, registry, tokens)
        async with asgi_client(before):
            await before.state.console.clients["staging"].check_identity(force=True)
            await until(lambda: len(receiver.bodies("/pagerduty")) == 1)
            # Delivered is recorded just after the POST: a console stopped in between leaves the
            # trigger leased (re-sent after the lease), and its resolve waits behind it.
            await until(lambda: _undelivered(console_db) == 0)

        claims[0] = "staging"  # fixed while the console restarted (a deploy, a crash)
        after = console_app(console_db, registry, tokens)
        async with asgi_client(after):
            staging = after.state.console.clients["staging"]
            assert (await staging.check_identity(force=True)).ok
            await until(lambda: len(receiver.bodies("/pagerduty")) == 2)
            assert receiver.bodies("/pagerduty")[1]["event_action"] == "resolve"
            assert receiver.bodies("/pagerduty")[1]["dedup_key"] == "identity.mismatch:console:staging"

            claims[0] = "prod"  # the next mismatch pages again
            assert (await staging.check_identity(force=True)).state == "misconfigured"
            await until(lambda: len(receiver.bodies("/pagerduty")) == 3)
            assert receiver.bodies("/pagerduty")[2]["event_action"] == "trigger"
    assert len(receiver.bodies("/pagerduty")) == 3  # the environment that never named another: nothing
