"""Sessions, sign-in throttling, CSRF on every POST, security headers and cookies.

Requirements (audit-security anchors): S1 revocation at logout, S2 new session id at
login, S6 cookie attributes, S7 CSRF on every state-changing request, S12 throttling;
ASVS v5.0.0-3.4 security headers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from fastapi.routing import APIRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from raxx.common.doors import walk_routes
from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, RunningRaptor, add_team, raptor_tokens
from tests.console.helpers import order_form, raptor_orders, signed_in
from tests.fixtures.apps import asgi_client, console_app, csrf_from, login
from tests.fixtures.security import browser

# -- sessions ------------------------------------------------------------------------------


async def test_login_issues_a_new_session_id_and_ignores_a_planted_one(console: httpx.AsyncClient) -> None:
    """Session fixation (S2, ASVS v5.0.0-7.2.4): a cookie set before login is never adopted."""
    console.cookies.set("raxx_session", "attacker-chosen-session-id-0123456789")
    assert (await console.get("/staging/")).status_code == 303  # the planted id signs nobody in
    first = _cookie(await login(console, "alice", PASSWORD), "raxx_session")
    assert first != "attacker-chosen-session-id-0123456789"
    console.cookies.clear()
    second = _cookie(await login(console, "alice", PASSWORD), "raxx_session")
    assert second != first


def _cookie(response: httpx.Response, name: str) -> str:
    """The value a response sets for cookie ``name``."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie set: {response.headers.get_list('set-cookie')}")


async def test_logout_revokes_the_session_everywhere_it_was_copied(
    console: httpx.AsyncClient, console_asgi: FastAPI
) -> None:
    """S1 (ASVS v5.0.0-7.4.1): a copied cookie stops working for pages and for posts."""
    csrf = await signed_in(console, "alice")
    stolen = console.cookies.get("raxx_session")
    out = await console.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert "raxx_session=" in out.headers["set-cookie"]  # the browser is told to drop it
    async with browser(console_asgi) as thief:
        thief.cookies.set("raxx_session", stolen or "")
        assert (await thief.get("/staging/orders")).headers["location"].startswith("/login")
        posted = await thief.post("/switch", data={"csrf_token": csrf, "to_env": "staging"})
        assert posted.status_code == 401
        assert "Please sign in" in posted.text


async def test_session_cookie_is_httponly_samesite_and_hashed_at_rest(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """S3, S6, A5: the cookie is 256 random bits; the database keeps only its hash."""
    response = await login(console, "alice", PASSWORD)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    token = console.cookies.get("raxx_session") or ""
    assert len(token) >= 43  # token_urlsafe(32)
    with psycopg.connect(console_db.owner_url) as conn:
        stored = [row[0] for row in conn.execute("SELECT id_hash FROM console_session")]
    assert token not in stored
    assert stored


# -- cookies over https ----------------------------------------------------------------------


async def test_cookies_are_host_prefixed_and_secure_over_https(
    console_asgi: FastAPI, console_db: ProvisionedDatabase
) -> None:
    """S6: served over https, the session and sign-in cookies are ``__Host-``, Secure, Path=/, no Domain."""
    await add_team(console_db)
    async with asgi_client(console_asgi, base_url="https://console.example") as client:
        page = await client.get("/login")
        assert page.headers["set-cookie"].startswith("__Host-raxx_login=")
        assert "strict-transport-security" in page.headers
        done = await client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303, done.text
        _assert_host_cookie(done.headers.get_list("set-cookie"), "__Host-raxx_session")
        assert (await client.get("/staging/")).status_code == 200  # and the prefixed cookie is the one read


async def test_behind_a_trusted_proxy_x_forwarded_proto_gives_host_cookies(
    console_asgi: FastAPI, console_db: ProvisionedDatabase
) -> None:
    """``raxx web`` trusts the router's X-Forwarded-Proto (uvicorn proxy headers); so does this stack."""
    await add_team(console_db)
    proxied = ProxyHeadersMiddleware(console_asgi, trusted_hosts="127.0.0.1")
    async with console_asgi.router.lifespan_context(console_asgi):
        transport = httpx.ASGITransport(app=proxied, client=("127.0.0.1", 50000))
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
        async with httpx.AsyncClient(transport=transport, base_url="http://console", headers=headers) as client:
            page = await client.get("/login")
            assert page.headers["set-cookie"].startswith("__Host-raxx_login=")
            nonce = _cookie(page, "__Host-raxx_login")
            data = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
            # httpx keeps a Secure cookie from a plain-http URL; the browser saw https, so send it
            done = await client.post("/login", data=data, headers={"Cookie": f"__Host-raxx_login={nonce}"})
            _assert_host_cookie(done.headers.get_list("set-cookie"), "__Host-raxx_session")
        untrusted = httpx.ASGITransport(app=ProxyHeadersMiddleware(console_asgi, trusted_hosts="10.9.9.9"))
        async with httpx.AsyncClient(transport=untrusted, base_url="http://console", headers=headers) as client:
            assert (await client.get("/login")).headers["set-cookie"].startswith("raxx_login=")  # header ignored


def _assert_host_cookie(set_cookies: list[str], name: str) -> None:
    matching = [c for c in set_cookies if c.startswith(name + "=")]
    assert matching, set_cookies
    attrs = [a.strip().lower() for a in matching[0].split(";")[1:]]
    assert "secure" in attrs
    assert "httponly" in attrs
    assert "path=/" in attrs
    assert not any(a.startswith("domain=") for a in attrs)


# -- throttling ----------------------------------------------------------------------------------

THROTTLE = {"login_lockout_after": 3, "login_delay_after": 5}  # refuse before any slow-down delay


async def _attempt(app: FastAPI, ip: str, name: str, password: str) -> httpx.Response:
    async with browser(app, client_ip=ip) as client:
        return await login(client, name, password)


async def test_login_is_throttled_per_user_across_addresses(
    tmp_path: Path, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor], registry_file: Path
) -> None:
    """S12: failures on one account from many addresses lock that account, not others."""
    app = console_app(console_db, registry_file, raptor_tokens(raptors), **THROTTLE)
    await add_team(console_db)
    async with asgi_client(app):
        for n in range(3):
            assert (await _attempt(app, f"203.0.113.{n}", "alice", "wrong wrong wrong")).status_code == 401
        throttled = await _attempt(app, "203.0.113.99", "alice", PASSWORD)  # even the right password
        assert throttled.status_code == 429
        assert "Too many failed logins" in throttled.text
        assert "raxx_session" not in throttled.headers.get("set-cookie", "")
        assert (await _attempt(app, "203.0.113.99", "olga", PASSWORD)).status_code == 303


async def test_login_is_throttled_per_address_across_users(
    console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor], registry_file: Path
) -> None:
    """S12: password spraying from one address (many names) blocks that address only."""
    app = console_app(console_db, registry_file, raptor_tokens(raptors), **THROTTLE)
    await add_team(console_db)
    async with asgi_client(app):
        for name in ("root", "admin", "olga"):
            assert (await _attempt(app, "198.51.100.5", name, "spray spray spray")).status_code == 401
        assert (await _attempt(app, "198.51.100.5", "alice", PASSWORD)).status_code == 429
        assert (await _attempt(app, "198.51.100.6", "alice", PASSWORD)).status_code == 303
    with psycopg.connect(console_db.runtime_url) as conn:
        denied = conn.execute(
            "SELECT count(*) FROM audit_event WHERE action = 'auth.login' AND phase = 'outcome' AND outcome = 'denied'"
        ).fetchone()
    assert denied is not None
    assert denied[0] == 4


# -- CSRF on every POST ---------------------------------------------------------------------------


def _form_posts(app: FastAPI) -> list[str]:
    """Every cookie-authenticated POST route (the JSON API takes bearer tokens, never cookies)."""
    return sorted(
        path
        for path, route in walk_routes(app.routes)
        if isinstance(route, APIRoute) and "POST" in route.methods and not path.startswith("/api/")
    )


def _state(console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]) -> dict[str, Any]:
    """Everything a forged POST could change: Raptor's orders and trading state, sessions, tokens, roles."""
    snapshot: dict[str, Any] = {}
    for env, raptor in raptors.items():
        snapshot[f"{env} orders"] = sorted((o["id"], o["status"]) for o in raptor_orders(raptor))
        with raptor.direct() as client:
            snapshot[f"{env} trading"] = client.get("/v1/trading").json()["halted"]
    with psycopg.connect(console_db.owner_url) as conn:
        for query in (
            "SELECT id_hash, current_env, revoked_at FROM console_session",
            "SELECT id, revoked_at FROM console_api_token",
            "SELECT user_id, environment, role FROM console_user_role",
        ):
            snapshot[query] = sorted(map(str, conn.execute(query)))
    return snapshot


async def test_every_post_without_or_with_a_wrong_csrf_token_is_403_and_changes_nothing(
    console: httpx.AsyncClient,
    console_asgi: FastAPI,
    console_db: ProvisionedDatabase,
    raptors: dict[str, RunningRaptor],
) -> None:
    """S7 (ASVS v5.0.0-3.5.1): walk the routes; a forged form acts nowhere, for anyone."""
    csrf = await signed_in(console, "alice")
    with raptors["staging"].direct() as direct:
        resting = direct.post(
            "/v1/orders",
            json={"symbol": "F", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"},
            headers={"X-Raxx-Actor": "csrf-setup"},
        ).json()["id"]
    token_page = await console.post("/tokens", data={"csrf_token": csrf, "name": "csrf-target"})
    token_id = token_page.text.split('action="/tokens/', 1)[1].split("/", 1)[0]
    fields = {
        "/{env}/orders": order_form("", "staging", client_order_id="csrf-forged"),
        "/{env}/trading/halt": {"environment": "staging", "reason": "forged"},
        "/{env}/users/role": {"environment": "staging", "user": "victor", "role": "admin"},
        "/tokens": {"name": "forged"},
        "/switch": {"to_env": "prod", "from_env": "staging", "confirmed": "yes"},
        "/login": {"username": "alice", "password": PASSWORD},
    }
    before = _state(console_db, raptors)
    posts = _form_posts(console_asgi)
    assert len(posts) >= 10  # the walk found the forms
    for path in posts:
        url = path.replace("{env}", "staging").replace("{order_id}", resting).replace("{token_id}", token_id)
        base = {k: v for k, v in fields.get(path, {"environment": "staging"}).items() if k != "csrf_token"}
        for forged in (None, "", "forged-" + csrf[7:], csrf.upper()):
            data = base if forged is None else {**base, "csrf_token": forged}
            response = await console.post(url, data=data)
            assert response.status_code == 403, f"{path} with {forged!r}: {response.status_code} {response.text[:200]}"
        assert _state(console_db, raptors) == before, f"a forged POST to {path} changed something"
    assert (await console.get("/staging/")).status_code == 200  # still signed in: /logout was refused too
