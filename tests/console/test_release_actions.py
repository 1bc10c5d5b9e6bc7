"""Approve, promote and roll back from the console: the ledger carries the request, the gate's
own functions decide (the CLI's), the console shows their words and audits the outcome."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from raxx.common.errors import RaxxError
from raxx.common.provision import ProvisionedDatabase
from raxx.gate import requests as gate_requests
from raxx.gate.context import GateContext
from raxx.gate.flows import rollback_flow
from tests.console.conftest import PASSWORD
from tests.console.helpers import audit_events
from tests.fixtures.apps import add_user, asgi_client, console_app, csrf_from, login
from tests.fixtures.gate import T0, add_release, gate_context, local_platform, local_topology


@pytest.fixture
async def gate(ledger_db: ProvisionedDatabase) -> AsyncIterator[GateContext]:
    """The gate with its request runner going, as ``raxx gate monitor`` runs it."""
    async with gate_context(ledger_db) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        stop = asyncio.Event()
        runner = asyncio.create_task(gate_requests.run(ctx, stop, interval=0.05))
        try:
            yield ctx
        finally:
            stop.set()
            await runner


@pytest.fixture
async def console(
    console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase, registry_file: Path
) -> AsyncIterator[httpx.AsyncClient]:
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    await add_user(console_db, "bob", PASSWORD, {"staging": "viewer", "prod": "admin"})
    await add_user(console_db, "victor", PASSWORD, {"staging": "viewer", "prod": "viewer"})
    app = console_app(console_db, registry_file, {}, ledger_database_url=ledger_db.runtime_url)
    async with asgi_client(app) as client:
        yield client


async def _as(client: httpx.AsyncClient, name: str) -> str:
    client.cookies.clear()
    assert (await login(client, name, PASSWORD)).status_code == 303
    return csrf_from((await client.get("/staging/orders")).text)


async def _post(
    client: httpx.AsyncClient, csrf: str, path: str, *, environment: str = "prod", **fields: str
) -> httpx.Response:
    response = await client.post(path, data={"csrf_token": csrf, "environment": environment, **fields})
    if response.status_code == 303:
        return await client.get(response.headers["location"])
    return response


def _requests(ledger_db: ProvisionedDatabase) -> list[dict[str, object]]:
    with psycopg.connect(ledger_db.owner_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute("SELECT * FROM release_request ORDER BY requested_at"))


def _outcomes(console_db: ProvisionedDatabase, action: str) -> list[dict[str, object]]:
    return [e for e in audit_events(console_db) if e["action"] == action and e["phase"] == "outcome"]


async def test_the_deployer_cannot_approve_from_the_console_and_another_owner_can(
    gate: GateContext, console: httpx.AsyncClient, console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase
) -> None:
    csrf = await _as(console, "alice")
    refused = await _post(console, csrf, "/prod/releases/raptor/approve", release="r1")
    assert 'data-status="refused"' in refused.text
    assert 'data-code="self_approval"' in refused.text
    assert "alice deployed r1 to staging and cannot approve it" in refused.text  # the gate's own words
    csrf = await _as(console, "bob")
    approved = await _post(console, csrf, "/prod/releases/raptor/approve", release="r1")
    assert 'data-status="done"' in approved.text
    assert "approved r1 for raptor-prod by bob" in approved.text
    with psycopg.connect(ledger_db.owner_url) as conn:
        assert conn.execute("SELECT approved_by FROM approval").fetchall() == [("bob",)]
    audited = _outcomes(console_db, "release.approve")
    assert [(e["actor_name"], e["outcome"], e["environment"]) for e in audited] == [
        ("alice", "denied", "prod"),
        ("bob", "ok", "prod"),
    ]
    assert "self_approval" in str(audited[0]["error"])
    assert audited[1]["params"]["action"] == "release.approve"  # perform() ran inside the route's record
    assert audited[1]["params"]["target"] == "raptor-prod r1"
    assert [r["via"] for r in _requests(ledger_db)] == ["console", "console"]


async def test_a_promotion_needs_the_release_and_environment_typed_and_the_gate_says_what_blocks(
    gate: GateContext,
    console: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    ledger_db: ProvisionedDatabase,
    tmp_path: Path,
) -> None:
    with local_topology(tmp_path) as topology:
        gate.platform = local_platform(gate, topology)
        csrf = await _as(console, "bob")
        mistyped = await _post(
            console, csrf, "/prod/releases/raptor/promote", release="r1", typed_release="r1", typed_env="staging"
        )
        assert mistyped.status_code == 400
        overlong = await _post(console, csrf, "/prod/releases/raptor/approve", release="r" * 300)
        assert overlong.status_code == 400
        assert "a release id is at most 200 characters (this one has 300)" in overlong.text
        assert _requests(ledger_db) == []  # nothing reached the gate
        blocked = await _post(
            console, csrf, "/prod/releases/raptor/promote", release="r1", typed_release="r1", typed_env="prod"
        )
    assert 'data-status="refused"' in blocked.text
    assert 'data-code="blocked"' in blocked.text
    assert re.search(r"- soak: .*", blocked.text)  # the soak has not run its window on the frozen clock
    row = _requests(ledger_db)[-1]
    assert row["action"] == "promote"
    assert row["exit_code"] == 3
    assert _outcomes(console_db, "release.promote")[-1]["outcome"] == "denied"


async def test_a_rollback_is_refused_with_the_clis_own_reason(
    gate: GateContext, console: httpx.AsyncClient, ledger_db: ProvisionedDatabase
) -> None:
    with pytest.raises(RaxxError) as cli:
        await rollback_flow(gate, "raptor", "prod", to=None, actor="bob", reason=None)
    csrf = await _as(console, "bob")
    refused = await _post(console, csrf, "/prod/releases/raptor/rollback", note="checking")
    assert 'data-status="refused"' in refused.text
    row = _requests(ledger_db)[-1]
    assert (row["code"], row["detail"]) == (cli.value.code, str(cli.value.detail))


async def test_a_viewer_cannot_ask_the_gate_anything(
    gate: GateContext, console: httpx.AsyncClient, console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase
) -> None:
    csrf = await _as(console, "victor")
    response = await console.post(
        "/prod/releases/raptor/approve", data={"csrf_token": csrf, "environment": "prod", "release": "r1"}
    )
    assert response.status_code == 403
    assert _requests(ledger_db) == []
    denied = _outcomes(console_db, "release.approve")
    assert [(e["actor_name"], e["outcome"], e["environment"]) for e in denied] == [("victor", "denied", "prod")]


async def test_an_app_the_policy_does_not_name_is_refused_in_the_gates_words_without_server_paths(
    gate: GateContext, console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    csrf = await _as(console, "bob")
    refused = await _post(console, csrf, "/prod/releases/raptr/approve", release="r1")
    assert 'data-status="refused"' in refused.text
    assert "no app &#39;raptr&#39; in the release policy (policy.toml; known: " in refused.text, refused.text
    assert str(gate.settings.policy_file.parent) not in refused.text  # the console shows no server path
    assert [e["outcome"] for e in _outcomes(console_db, "release.approve")] == ["denied"]


async def test_a_rollback_that_ran_while_smoke_still_fails_is_failed_never_refused(
    gate: GateContext,
    console: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    ledger_db: ProvisionedDatabase,
    tmp_path: Path,
) -> None:
    """The rollback happened (staging runs r1 again) but a smoke check still fails: the page and
    the trail used to say "refused"/``denied``, which reads as nothing done."""
    await add_release(gate, "raptor", "staging", "r2", at=T0 + timedelta(hours=1), by="carol")
    with local_topology(tmp_path) as topology:
        topology.services["raptor-staging"].release = "r2"
        topology.services["raptor-staging"].broken_releases.add("r1")  # r1 is no better
        gate.platform = local_platform(gate, topology)
        csrf = await _as(console, "alice")
        shown = await _post(console, csrf, "/staging/releases/raptor/rollback", environment="staging", release="r1")
        runs = topology.services["raptor-staging"].release
    assert runs == "r1"
    assert 'data-status="failed"' in shown.text, shown.text
    assert "rolled back from r2 to r1; smoke still failing" in shown.text
    row = _requests(ledger_db)[-1]
    assert (row["status"], row["exit_code"]) == ("failed", 7)
    assert [e["outcome"] for e in _outcomes(console_db, "release.rollback")] == ["failed"]


async def test_without_a_platform_a_rollback_is_refused_at_once_and_nothing_changes(
    gate: GateContext, console: httpx.AsyncClient, console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase
) -> None:
    """As on Heroku when the monitor holds no deploy token: the page says so in words an operator
    can act on, and the trail records a refusal."""
    await add_release(gate, "raptor", "staging", "r2", at=T0 + timedelta(hours=1), by="carol")
    assert gate.platform is None
    csrf = await _as(console, "alice")
    shown = await _post(console, csrf, "/staging/releases/raptor/rollback", environment="staging", release="r1")
    assert 'data-status="refused"' in shown.text
    assert "no platform to deploy with here" in shown.text
    assert "promote and roll back there" in shown.text
    assert [e["outcome"] for e in _outcomes(console_db, "release.rollback")] == ["denied"]
    assert _requests(ledger_db)[-1]["code"] == "config_error"
    with psycopg.connect(ledger_db.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM release WHERE trigger = 'rollback'").fetchone() == (0,)
