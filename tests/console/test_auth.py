from __future__ import annotations

import httpx
import psycopg

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD
from tests.fixtures.apps import csrf_from, login


async def test_login_lands_in_staging_with_a_fresh_session(console: httpx.AsyncClient) -> None:
    before = (await console.get("/login")).cookies
    response = await login(console, "alice", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/staging/"
    set_cookie = response.headers["set-cookie"]
    assert "raxx_session=" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    assert "raxx_session" not in before
    page = await console.get("/staging/")
    assert page.status_code == 200
    assert 'data-env="staging"' in page.text


async def test_wrong_password_and_unknown_user_get_the_same_generic_message(console: httpx.AsyncClient) -> None:
    wrong = await login(console, "alice", "not the password at all")
    nobody = await login(console, "nobody-here", "not the password at all")
    assert wrong.status_code == nobody.status_code == 401
    assert "Invalid user name or password." in wrong.text
    assert "Invalid user name or password." in nobody.text
    assert "raxx_session" not in wrong.headers.get("set-cookie", "")


async def test_repeated_failures_are_slowed_then_refused(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    # Seed the window with failures instead of waiting through the slow-down delays.
    with psycopg.connect(console_db.owner_url, autocommit=True) as conn:
        for _ in range(10):
            conn.execute(
                "INSERT INTO console_login_attempt (username, client_ip, ok) VALUES ('alice', '1.2.3.4', false)"
            )
    refused = await login(console, "alice", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.text


async def test_login_without_its_csrf_token_is_refused(console: httpx.AsyncClient) -> None:
    await console.get("/login")
    response = await console.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "raxx_session" not in response.headers.get("set-cookie", "")


async def test_logout_revokes_the_session_server_side(console: httpx.AsyncClient) -> None:
    await login(console, "alice", PASSWORD)
    old_cookie = console.cookies.get("raxx_session")
    page = await console.get("/staging/")
    out = await console.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 303
    console.cookies.set("raxx_session", old_cookie)
    again = await console.get("/staging/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


async def test_pages_require_login_and_api_says_401(console: httpx.AsyncClient) -> None:
    page = await console.get("/prod/health")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/prod/health"


async def test_security_headers_on_every_page(console: httpx.AsyncClient) -> None:
    response = await console.get("/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
