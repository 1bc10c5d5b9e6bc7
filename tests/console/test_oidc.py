"""Single sign-on against a real OpenID provider over HTTP (the product's demo provider).

The browser tests (tests/browser/test_oidc.py) drive the same flows in Chromium; these
check what a browser cannot see: key rotation and the JWKS rate limit, the role sync
of a leaver, the audit params, the redirect parameters.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from raxx.common.db import libpq_url
from raxx.common.provision import ProvisionedDatabase
from raxx.console.auth.oidc import roles_from_groups
from tests.console.conftest import PASSWORD, RunningRaptor, raptor_tokens
from tests.fixtures.apps import add_user, asgi_client, console_app, console_settings, csrf_from, login
from tests.fixtures.oidc import (
    FAULTS,
    IDP_PASSWORD,
    ROLE_MAP,
    RunningProvider,
    audit_events,
    oidc_settings,
    start_provider,
)

CALLBACK = "http://testserver/login/oidc/callback"
HIDDEN_RE = re.compile(r'<input type="hidden" name="(p_[a-z_]+)" value="([^"]*)">')


@pytest.fixture
def idp() -> AsyncIterator[RunningProvider]:
    running = start_provider([CALLBACK])
    yield running  # type: ignore[misc]
    running.server.stop()


def sso_app(
    db: ProvisionedDatabase, registry: Path, raptors: dict[str, RunningRaptor], idp: RunningProvider, **more: Any
) -> FastAPI:
    return console_app(db, registry, raptor_tokens(raptors), **oidc_settings(idp.issuer, **more))


@pytest.fixture
async def sso(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor], idp: RunningProvider
) -> AsyncIterator[httpx.AsyncClient]:
    app = sso_app(console_db, registry_file, raptors, idp)
    async with asgi_client(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def through_provider(location: str, user: str, password: str = IDP_PASSWORD) -> str:
    """Play the browser at the provider: its login form, then the redirect back; return the callback URL."""
    async with httpx.AsyncClient(timeout=10) as browser:
        form = await browser.get(location)
        if form.status_code == 303:
            return form.headers["location"]
        fields = dict(HIDDEN_RE.findall(form.text))
        issuer = location.split("/authorize")[0]
        answer = await browser.post(issuer + "/authorize", data={**fields, "username": user, "password": password})
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]


async def sso_sign_in(console: httpx.AsyncClient, user: str, *, next_path: str | None = None) -> httpx.Response:
    start = await console.get("/login/oidc", params={"next": next_path} if next_path else None)
    assert start.status_code == 303, start.text
    callback = await through_provider(start.headers["location"], user)
    return await console.get(callback.removeprefix("http://testserver"))


def second_browser(console: httpx.AsyncClient) -> httpx.AsyncClient:
    """Another browser (no cookies) on the same running console."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=console.app), base_url="http://testserver")  # type: ignore[attr-defined]


REFRESH_RE = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


def continues_to(response: httpx.Response) -> str:
    """Where a successful callback's page sends the browser on (a same-site navigation)."""
    assert response.status_code == 200, response.text
    assert "raxx_session=" in response.headers.get("set-cookie", "") or "/resume/" in response.text
    match = REFRESH_RE.search(response.text)
    assert match, response.text
    return html.unescape(match.group(1))


async def test_authorization_request_uses_pkce_state_and_nonce(sso: httpx.AsyncClient, idp: RunningProvider) -> None:
    start = await sso.get("/login/oidc")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(idp.issuer + "/authorize?")
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 40
    assert len(query["nonce"][0]) >= 30
    assert query["redirect_uri"] == [CALLBACK]
    assert "max_age" not in query
    assert "prompt" not in query
    assert sso.cookies.get("raxx_oidc") == query["state"][0]


async def test_first_sign_in_creates_the_user_with_mapped_roles(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    done = await sso_sign_in(sso, "stella")
    assert continues_to(done) == "/staging/"
    session_cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("raxx_session="))
    assert "samesite=strict" in session_cookie.lower()  # the same cookie as a password sign-in's
    assert "max-age" not in session_cookie.lower()
    page = await sso.get("/staging/")
    assert page.status_code == 200
    assert "stella@example.com" in page.text
    prod = await sso.get("/prod/")
    assert prod.status_code == 403  # staging operators hold nothing in prod: never by default
    [event] = [e for e in audit_events(console_db) if e["action"] == "auth.login"]
    assert event["outcome"] == "ok"
    assert event["params"]["method"] == "oidc"
    assert event["params"]["auth_time"]
    assert event["actor"] == "stella@example.com"


async def test_a_user_in_no_mapped_group_is_refused_and_not_created(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    refused = await sso_sign_in(sso, "mallory")
    assert refused.status_code == 401
    assert "grant no role" in refused.text
    assert "raxx_session" not in refused.headers.get("set-cookie", "")
    [event] = audit_events(console_db)
    assert event["outcome"] == "denied"
    assert event["error"].startswith("oidc_no_role")
    login_page = await sso.get("/login")
    assert "Sign in with Demo IdP" in login_page.text


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_bad_answer_is_refused_with_its_reason(
    sso: httpx.AsyncClient, idp: RunningProvider, console_db: ProvisionedDatabase, fault: str
) -> None:
    if fault == "replayed_nonce":
        assert continues_to(await sso_sign_in(sso, "paul"))
        sso.cookies.clear()
    idp.provider.fault = fault
    refused = await sso_sign_in(sso, "paul")
    assert refused.status_code == 401, refused.text
    assert f"error <code>{FAULTS[fault]}</code>" in refused.text
    assert "raxx_session" not in refused.headers.get("set-cookie", "")
    assert (await sso.get("/staging/")).status_code == 303  # not signed in
    last = audit_events(console_db)[-1]
    assert (last["action"], last["outcome"]) == ("auth.login", "denied")
    assert last["error"].startswith(FAULTS[fault])


async def test_a_callback_cannot_be_used_twice(sso: httpx.AsyncClient) -> None:
    start = await sso.get("/login/oidc")
    callback = (await through_provider(start.headers["location"], "paul")).removeprefix("http://testserver")
    state = sso.cookies["raxx_oidc"]
    assert continues_to(await sso.get(callback))
    again = await sso.get(callback)  # the state cookie is gone with the first use
    assert again.status_code == 401
    assert "oidc_state_mismatch" in again.text
    sso.cookies.set("raxx_oidc", state)  # and with it back, the flow itself is used up
    again = await sso.get(callback)
    assert again.status_code == 401
    assert "oidc_flow_unknown" in again.text


async def test_key_rotation_refetches_the_jwks_once_and_unknown_kids_are_rate_limited(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor], idp: RunningProvider
) -> None:
    app = sso_app(console_db, registry_file, raptors, idp, oidc_jwks_refresh_s=3600.0)
    async with asgi_client(app) as console:
        assert continues_to(await sso_sign_in(console, "paul"))
        assert idp.provider.jwks_requests == 1
        console.cookies.clear()
        idp.provider.rotate_key()
        # A key id not seen yet: refetched once even inside the refresh interval (the first fetch is old news).
        app.state.console.oidc._keys_fetched_at = float("-inf")
        assert continues_to(await sso_sign_in(console, "paul"))
        assert idp.provider.jwks_requests == 2
        console.cookies.clear()
        idp.provider.rotate_key()
        # Within the interval an unknown key id does not make the console fetch again: refused.
        refused = await sso_sign_in(console, "paul")
        assert refused.status_code == 401
        assert "oidc_unknown_key" in refused.text
        assert idp.provider.jwks_requests == 2


async def test_a_leaver_loses_the_role_at_the_next_sign_in_and_their_sessions_end(
    sso: httpx.AsyncClient, idp: RunningProvider, console_db: ProvisionedDatabase
) -> None:
    assert continues_to(await sso_sign_in(sso, "paul"))
    assert (await sso.get("/prod/")).status_code == 200
    idp.provider.users["paul"].groups = ["raxx-staging-operators"]
    async with second_browser(sso) as other:
        assert continues_to(await sso_sign_in(other, "paul"))
        assert (await other.get("/prod/")).status_code == 403
    assert (await sso.get("/prod/")).status_code == 403  # the same user's older session: role gone too
    idp.provider.users["paul"].groups = []
    async with second_browser(sso) as third:
        assert (await sso_sign_in(third, "paul")).status_code == 401
    assert (await sso.get("/staging/")).status_code == 303  # every session ended


async def test_passwords_are_off_except_for_break_glass_accounts(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    await add_user(console_db, "glass", PASSWORD, {"staging": "admin", "prod": "admin"}, break_glass=True)
    off = await login(sso, "alice", PASSWORD)
    assert off.status_code == 403
    assert "Password sign-in is off" in off.text
    on = await login(sso, "glass", PASSWORD)
    assert on.status_code == 303
    events = audit_events(console_db)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("auth.login", "denied"),
        ("auth.break_glass", "ok"),  # recorded while signing in, before the sign-in's outcome
        ("auth.login", "ok"),
    ]
    assert events[0]["error"].startswith("password_disabled")
    assert events[1]["actor"] == "glass"
    assert events[2]["params"]["break_glass"] is True
    assert events[2]["params"]["method"] == "password"
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        alerts = conn.execute("SELECT kind, severity, state, summary FROM alert").fetchall()
    assert [(kind, severity, state) for kind, severity, state, _ in alerts] == [
        ("auth.break_glass", "critical", "triggered")
    ]
    assert "as glass" in alerts[0][3]


async def test_sign_out_ends_the_session_and_the_providers(sso: httpx.AsyncClient, idp: RunningProvider) -> None:
    assert continues_to(await sso_sign_in(sso, "stella"))
    page = await sso.get("/staging/")
    out = await sso.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == idp.issuer + "/end_session"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/login"]
    assert query["id_token_hint"][0].count(".") == 2
    assert (await sso.get("/staging/")).status_code == 303


def age_sessions(db: ProvisionedDatabase, minutes: int) -> None:
    """Move every session's sign-in ``minutes`` into the past (what waiting would do)."""
    with psycopg.connect(libpq_url(db.owner_url), autocommit=True) as conn:
        conn.execute("UPDATE console_session SET auth_time = auth_time - make_interval(mins => %s)", (minutes,))


ORDER = {
    "environment": "prod",
    "symbol": "AAPL",
    "side": "buy",
    "quantity": "3",
    "type": "limit",
    "limit_price": "101.25",
    "time_in_force": "day",
    "client_order_id": "stepup-order-0001",
}


async def test_a_stale_sign_in_steps_up_before_a_prod_action_and_comes_back_to_its_confirmation(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    assert continues_to(await sso_sign_in(sso, "paul"))
    form = await sso.get("/prod/orders/new")
    fresh = await sso.post("/prod/orders", data={**ORDER, "csrf_token": csrf_from(form.text)})
    assert fresh.status_code == 200
    assert 'data-confirm="order.place"' in fresh.text

    age_sessions(console_db, 16)
    stale = await sso.post("/prod/orders", data={**ORDER, "csrf_token": csrf_from(form.text)})
    assert stale.status_code == 303
    query = parse_qs(urlsplit(stale.headers["location"]).query)
    assert query["max_age"] == ["900"]
    assert query["prompt"] == ["login"]
    callback = await through_provider(stale.headers["location"], "paul")
    back = await sso.get(callback.removeprefix("http://testserver"))
    resume_path = continues_to(back)
    assert resume_path.startswith("/login/oidc/resume/")

    page = await sso.get(resume_path)
    assert page.status_code == 200
    assert 'data-confirm="order.place"' in page.text
    for name in ("symbol", "quantity", "limit_price", "client_order_id"):
        assert f'name="{name}" value="{ORDER[name]}"' in page.text
    with raptors["prod"].direct() as direct:
        assert "stepup-order-0001" not in direct.get("/v1/orders").text  # nothing acted on the way

    target = re.search(r'id="confirm-target">([^<]+)<', page.text)
    token = re.search(r'name="confirm_token" value="([^"]+)"', page.text)
    assert target
    assert token
    typed = {**ORDER, "csrf_token": csrf_from(page.text), "typed_env": "prod", "typed_target": target.group(1)}
    typed["confirm_token"] = token.group(1)
    done = await sso.post("/prod/orders", data=typed)
    assert done.status_code == 303, done.text
    place = [e for e in audit_events(console_db, "order.place") if e["params"].get("acted") is not False][-1]
    assert place["params"]["auth_method"] == "oidc"
    assert place["params"]["auth_time"]
    stepup = [e for e in audit_events(console_db) if e["action"] == "auth.stepup"]
    assert [e["outcome"] for e in stepup] == ["ok"]
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        [(session_hash,)] = conn.execute("SELECT id_hash FROM console_session").fetchall()
    assert stepup[0]["session"] == session_hash  # the step-up is recorded against the session it renewed


async def test_a_break_glass_session_cannot_step_up_and_is_told_to_sign_in_again(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await add_user(console_db, "glass", PASSWORD, {"staging": "admin", "prod": "admin"}, break_glass=True)
    assert (await login(sso, "glass", PASSWORD)).status_code == 303
    age_sessions(console_db, 16)
    page = await sso.get("/prod/trading")
    refused = await sso.post(
        "/prod/trading/halt", data={"csrf_token": csrf_from(page.text), "environment": "prod", "reason": "drill"}
    )
    assert refused.status_code == 403
    assert "sign in again" in refused.text


def test_console_user_add_marks_a_break_glass_account(console_db: ProvisionedDatabase) -> None:
    from click.testing import CliRunner

    from raxx.console.commands import console

    args = ["user", "add", "glass", "--role", "admin", "--env", "prod", "--break-glass", "--password-stdin"]
    result = CliRunner().invoke(console, [*args, "--database-url", console_db.owner_url], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "added glass (break-glass): admin in prod" in result.output
    plain = ["user", "add", "olga", "--role", "viewer", "--env", "prod", "--password-stdin"]
    assert (
        CliRunner().invoke(console, [*plain, "--database-url", console_db.owner_url], input=PASSWORD + "\n").exit_code
        == 0
    )
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        rows = dict(conn.execute("SELECT name, break_glass FROM console_user").fetchall())
    assert rows == {"glass": True, "olga": False}


async def test_a_step_up_for_an_action_without_typed_confirmation_comes_back_to_a_confirm_button(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    order = {
        "symbol": "KO",
        "side": "buy",
        "quantity": "1",
        "type": "limit",
        "limit_price": "1.00",
        "time_in_force": "day",
        "client_order_id": "stepup-cancel-0001",
    }
    with raptors["prod"].direct() as direct:
        placed = direct.post("/v1/orders", json=order)
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
    assert continues_to(await sso_sign_in(sso, "paul"))
    age_sessions(console_db, 16)
    page = await sso.get(f"/prod/orders/{order_id}")
    stale = await sso.post(
        f"/prod/orders/{order_id}/cancel", data={"csrf_token": csrf_from(page.text), "environment": "prod"}
    )
    assert stale.status_code == 303
    back = await sso.get((await through_provider(stale.headers["location"], "paul")).removeprefix("http://testserver"))
    resume = await sso.get(continues_to(back))
    assert 'data-confirm="order.cancel"' in resume.text
    assert 'id="signed-in-again"' in resume.text
    assert "typed_env" not in resume.text
    assert f'action="/prod/orders/{order_id}/cancel"' in resume.text
    with raptors["prod"].direct() as direct:
        assert direct.get(f"/v1/orders/{order_id}").json()["status"] == "new"  # not canceled on the way
    done = await sso.post(
        f"/prod/orders/{order_id}/cancel", data={"csrf_token": csrf_from(resume.text), "environment": "prod"}
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/prod/orders/{order_id}")
    with raptors["prod"].direct() as direct:
        assert direct.get(f"/v1/orders/{order_id}").json()["status"] == "canceled"


async def test_an_unreachable_provider_is_a_clear_503_not_a_crash(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor], idp: RunningProvider
) -> None:
    idp.server.stop()
    app = sso_app(console_db, registry_file, raptors, idp)
    async with asgi_client(app) as console:
        start = await console.get("/login/oidc")
    assert start.status_code == 503
    assert "identity_provider_unavailable" in start.text
    assert "break-glass" in start.text


def test_roles_from_groups_deny_by_default_and_the_strongest_wins() -> None:
    envs = ["staging", "prod"]
    role_map = {**ROLE_MAP, "raxx-admins": {"staging": "admin"}, "raxx-qa": {"qa": "admin"}}
    assert roles_from_groups(["marketing"], role_map, envs) == {}
    assert roles_from_groups([], role_map, envs) == {}
    assert roles_from_groups(["raxx-staging-operators"], role_map, envs) == {"staging": "operator"}  # no prod
    both = roles_from_groups(["raxx-auditors", "raxx-prod-operators", "raxx-admins"], role_map, envs)
    assert both == {"staging": "admin", "prod": "operator"}
    assert roles_from_groups(["raxx-qa"], role_map, envs) == {}  # an environment the registry lacks


def test_settings_refuse_an_unknown_role_and_plain_http_to_a_remote_provider(
    console_db: ProvisionedDatabase, registry_file: Path
) -> None:
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        console_settings(
            console_db,
            registry_file,
            **oidc_settings("https://idp.example.com", oidc_role_map={"g": {"prod": "superuser"}}),
        )
    with pytest.raises(ValueError, match="https"):
        console_settings(console_db, registry_file, **oidc_settings("http://idp.example.com"))
    with pytest.raises(ValueError, match="CONSOLE_OIDC_CLIENT_ID"):
        console_settings(console_db, registry_file, **oidc_settings("https://idp.example.com", oidc_client_id=None))
    assert console_settings(console_db, registry_file, **oidc_settings("http://localhost:9")).oidc_enabled


async def test_the_users_page_says_how_each_user_signs_in(
    sso: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await add_user(console_db, "glass", PASSWORD, {"staging": "admin", "prod": "admin"}, break_glass=True)
    assert continues_to(await sso_sign_in(sso, "stella"))
    sso.cookies.clear()
    assert (await login(sso, "glass", PASSWORD)).status_code == 303
    page = await sso.get("/prod/users")
    assert page.status_code == 200
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr data-user="([^"]+)".*?</tr>', page.text, re.S)}
    assert 'data-sign-in="break-glass"' in rows["glass"]
    assert 'data-sign-in="sso"' not in rows["glass"]
    assert 'data-sign-in="sso"' in rows["stella@example.com"]


async def test_a_provider_name_that_is_another_spelling_or_holds_an_invisible_character_is_refused(
    sso: httpx.AsyncClient, idp: RunningProvider, console_db: ProvisionedDatabase
) -> None:
    """Local user names are one person however spelt; a provider's name was compared to the letter,
    so ``Stella@Example.com`` (or ``stella`` + U+200B) became a second account beside ``stella``."""
    assert continues_to(await sso_sign_in(sso, "stella"))
    sso.cookies.clear()
    for email, code in (
        ("Stella@Example.com", "oidc_name_conflict"),
        ("stella@example.com\u200b", "oidc_invisible_name"),
    ):
        idp.provider.users["paul"].email = email
        refused = await sso_sign_in(sso, "paul")
        assert refused.status_code == 401, refused.text
        assert f"error <code>{code}</code>" in refused.text
        assert audit_events(console_db)[-1]["error"].startswith(code)
        sso.cookies.clear()
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        assert conn.execute("SELECT count(*) FROM console_user WHERE name ILIKE '%stella%'").fetchone() == (1,)
