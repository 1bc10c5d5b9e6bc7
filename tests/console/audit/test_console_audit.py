"""The console audits every state-changing route, every refusal, and shows the trail to auditors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.routing import APIRoute

from raxx.common.doors import walk_routes
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.routes import MUTATING_METHODS, AuditedRoute
from tests.console.conftest import PASSWORD
from tests.fixtures.apps import add_user, console_app, csrf_from, login


def _events(db: ProvisionedDatabase) -> list[dict[str, object]]:
    with psycopg.connect(db.runtime_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute("SELECT * FROM audit_event ORDER BY seq"))


def _mutating_routes(db: ProvisionedDatabase, registry_file: Path) -> list[tuple[str, APIRoute]]:
    app = console_app(db, registry_file)
    routes = [
        (path, r)
        for path, r in walk_routes(app.routes)
        if isinstance(r, APIRoute) and (r.methods or set()) & MUTATING_METHODS
    ]
    assert routes, "the console has no state-changing route: this walk would prove nothing"
    return routes


def test_every_state_changing_route_is_declared_audited(console_db: ProvisionedDatabase, registry_file: Path) -> None:
    for path, route in _mutating_routes(console_db, registry_file):
        assert isinstance(route, AuditedRoute), f"{path} is not on an AuditedRoute router"
        assert route.audit_spec is not None, f"{path} has no @audited(...)"


async def test_every_state_changing_route_writes_an_attempt_then_an_outcome(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, registry_file: Path
) -> None:
    await login(console, "alice", PASSWORD)
    for template, route in _mutating_routes(console_db, registry_file):
        assert isinstance(route, AuditedRoute)
        assert route.audit_spec is not None
        before = len(_events(console_db))
        path = re.sub(r"\{[^}]+\}", lambda m: "staging" if m.group(0) == "{env}" else "x", template)
        method = sorted((route.methods or set()) & MUTATING_METHODS)[0]
        # An empty form: whatever the route answers (refusal, validation error), it is audited.
        response = await console.request(method, path, data={"probe": "route-walk"})
        new = _events(console_db)[before:]
        actions = [(e["action"], e["phase"]) for e in new if e["action"] == route.audit_spec.action]
        assert actions[:2] == [(route.audit_spec.action, "attempt"), (route.audit_spec.action, "outcome")], (
            f"{method} {path} answered {response.status_code} and left {new}"
        )
        attempt, outcome = (e for e in new if e["action"] == route.audit_spec.action)
        assert outcome["attempt_id"] == attempt["event_id"]
        assert outcome["http_status"] == response.status_code
        if response.status_code >= 400:
            assert outcome["outcome"] in ("denied", "failed")


async def test_sign_in_switch_and_sign_out_are_recorded_with_who_and_where(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    page = await console.get("/login")
    refused = await console.post(
        "/login", data={"username": "alice", "password": "wrong password!", "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 401
    await login(console, "alice", PASSWORD)
    cookie = console.cookies["raxx_session"]
    csrf = csrf_from((await console.get("/staging/")).text)
    form = {"csrf_token": csrf, "from_env": "staging", "to_env": "prod", "next": "/"}
    assert (await console.post("/switch", data=form)).status_code == 200  # confirmation asked
    assert (await console.post("/switch", data={**form, "confirmed": "yes"})).status_code == 303
    assert (await console.post("/logout", data={"csrf_token": csrf})).status_code == 303

    outcomes = [e for e in _events(console_db) if e["phase"] == "outcome"]
    summary = [(e["action"], e["outcome"], e["environment"]) for e in outcomes]
    assert summary == [
        ("auth.login", "denied", None),
        ("auth.login", "ok", None),
        ("env.switch.prompt", "ok", "prod"),  # the prompt is its own event, not a switch
        ("env.switch", "ok", "prod"),
        ("auth.logout", "ok", None),
    ]
    failed_login, ok_login, asked, switched, logout = outcomes
    assert failed_login["target"] == "alice"
    # Login events name the actor: the name tried (no id: nobody was authenticated), then the user.
    assert (failed_login["actor_name"], failed_login["actor_id"]) == ("alice", None)
    (failed_attempt_row,) = [e for e in _events(console_db) if e["event_id"] == failed_login["attempt_id"]]
    assert failed_attempt_row["actor_name"] == "alice"
    assert ok_login["actor_name"] == "alice"
    assert ok_login["actor_id"] is not None
    assert str(ok_login["actor_id"]) == ok_login["params"]["user_id"]
    assert failed_login["http_status"] == 401
    (failed_attempt,) = [e for e in _events(console_db) if e["event_id"] == failed_login["attempt_id"]]
    assert failed_attempt["params"]["password"] == "[redacted]"
    assert failed_attempt["params"]["csrf_token"] == "[redacted]"
    assert "wrong password" not in str(_events(console_db))
    assert asked["params"]["switched"] is False
    assert switched["params"] == {"switched": True, "from": "staging", "to": "prod"}
    assert switched["actor_name"] == logout["actor_name"] == "alice"
    assert switched["session_hash"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert switched["request_id"]
    assert ok_login["params"]["user_id"]


async def test_csrf_failure_is_recorded_as_a_denied_action(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "alice", PASSWORD)
    response = await console.post("/switch", data={"csrf_token": "forged", "to_env": "staging"})
    assert response.status_code == 403
    outcome = _events(console_db)[-1]
    assert (outcome["action"], outcome["outcome"], outcome["http_status"]) == ("env.switch", "denied", 403)
    assert str(outcome["error"]).startswith("csrf_failed")


async def test_permission_denial_on_a_page_is_recorded(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "victor", PASSWORD)
    assert (await console.get("/prod/")).status_code == 403
    denial = _events(console_db)[-1]
    assert (denial["action"], denial["outcome"], denial["environment"]) == ("access.denied", "denied", "prod")
    assert (denial["actor_name"], denial["target"], denial["http_status"]) == ("victor", "/prod/", 403)


async def test_a_switch_is_refused_when_its_attempt_cannot_be_recorded(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, superuser_url: str
) -> None:
    await login(console, "alice", PASSWORD)
    csrf = csrf_from((await console.get("/staging/")).text)
    role = psycopg.conninfo.conninfo_to_dict(console_db.runtime_url)["user"]
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(f'REVOKE INSERT ON audit_event FROM "{role}"')
    response = await console.post(
        "/switch", data={"csrf_token": csrf, "from_env": "staging", "to_env": "prod", "confirmed": "yes"}
    )
    assert response.status_code == 503
    assert "audit trail could not record" in response.text
    assert (await console.get("/")).headers["location"] == "/staging/"  # the switch did not happen


@pytest.fixture
async def auditor(console_db: ProvisionedDatabase) -> str:
    await add_user(console_db, "ada", PASSWORD, {"staging": "auditor"})
    return "ada"


async def test_audit_page_filters_pages_and_shows_pairs(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, auditor: str
) -> None:
    from raxx.common.db import create_engine
    from raxx.console.audit.events import AuditContext
    from raxx.console.audit.service import AuditTrail

    engine = create_engine(console_db.runtime_url, application_name="test", pool_size=2)
    trail = AuditTrail(engine)
    for n in range(60):
        attempt = await trail.attempt(
            AuditContext(actor_name="bob", environment="staging", request_id=f"r{n}"), "order.cancel", target=f"ord-{n}"
        )
        await trail.outcome(attempt, "ok" if n % 3 else "failed", http_status=200 if n % 3 else 502)
    await trail.record(AuditContext(actor_name="carol", environment="prod"), "trading.halt", outcome="ok")
    await engine.dispose()
    await login(console, auditor, PASSWORD)

    first = await console.get("/staging/audit", params={"action": "order.cancel"})
    assert first.status_code == 200
    assert 'href="/staging/audit"' in first.text  # the nav link for auditors
    seqs = [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', first.text)]
    assert len(seqs) == 50
    assert seqs == sorted(seqs, reverse=True)
    assert 'class="env-tag env-staging"' in first.text
    older = re.search(r'href="(/staging/audit\?[^"]*before=\d+)"', first.text)
    assert older
    second = await console.get(older.group(1).replace("&amp;", "&"))
    seqs2 = [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', second.text)]
    assert len(seqs2) == 50
    assert max(seqs2) < min(seqs)
    newer = re.search(r'href="(/staging/audit\?[^"]*after=\d+)"', second.text)
    assert newer
    back = await console.get(newer.group(1).replace("&amp;", "&"))
    assert [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', back.text)] == seqs

    assert "data-open-attempt" not in first.text  # every attempt there has its outcome
    assert f'<a href="/staging/audit/{seqs[0]}">&rarr; ' in first.text  # seqs[1] is the attempt of seqs[0]
    failed = await console.get("/staging/audit", params={"outcome": "failed"})
    failed_rows = re.findall(r'<tr data-seq="\d+" data-env="staging"[^>]*>', failed.text)
    assert len(failed_rows) == 20
    assert "carol" not in (await console.get("/staging/audit", params={"environment": "*"})).text  # prod is not hers
    assert (await console.get("/staging/audit", params={"environment": "prod"})).status_code == 403

    detail = await console.get(f"/staging/audit/{seqs[0]}")
    assert detail.status_code == 200
    assert 'data-pair="attempt"' in detail.text
    assert 'data-pair="outcome"' in detail.text
    assert 'data-event-env="staging"' in detail.text
    css = await console.get("/audit-assets/env-tags.css")
    assert ".env-tag.env-staging{background:#b45309" in css.text


@pytest.mark.parametrize("bound", [2**63 - 1, 2**63, 10**30, -(2**63) - 1])
async def test_an_event_number_no_bigint_holds_is_not_found(
    console: httpx.AsyncClient, auditor: str, bound: int
) -> None:
    await login(console, auditor, PASSWORD)
    page = await console.get(f"/staging/audit/{bound}")
    assert page.status_code == 404, page.text


@pytest.mark.parametrize("field", ["before", "after"])
async def test_a_page_bound_no_bigint_holds_is_a_field_error(
    console: httpx.AsyncClient, auditor: str, field: str
) -> None:
    await login(console, auditor, PASSWORD)
    page = await console.get("/staging/audit", params={field: "99999999999999999999999"})
    assert page.status_code == 422, page.text
    assert f"{field}: Input should be less than or equal to 9223372036854775807" in page.text
    assert (await console.get("/staging/audit", params={field: str(2**63 - 1)})).status_code == 200


async def test_audit_page_needs_the_audit_capability(console: httpx.AsyncClient) -> None:
    await login(console, "victor", PASSWORD)
    page = await console.get("/staging/audit")
    assert page.status_code == 403
    assert 'href="/staging/audit"' not in (await console.get("/staging/")).text


async def test_chain_status_shows_head_and_last_verification(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "alice", PASSWORD)
    page = (await console.get("/staging/audit")).text
    assert 'data-last-verify="never"' in page
    head = _events(console_db)[-1]["seq"]
    assert f"seq {head}" in page
