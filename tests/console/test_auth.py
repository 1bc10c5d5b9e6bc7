from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import psycopg
from psycopg import sql

from raxx.common.provision import ProvisionedDatabase
from raxx.local.provision import DEMO_USER, ensure_demo_user
from tests.console.conftest import PASSWORD
from tests.fixtures.apps import csrf_from, login


async def test_login_lands_in_staging_with_a_fresh_session(console: httpx.AsyncClient) -> None:
    before = (await console.get("/login")).cookies
    response = await login(console, "alice", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/staging/"
    [set_cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("raxx_session=")]
    assert "HttpOnly" in set_cookie
    assert "samesite=strict" in set_cookie.lower()
    # A browser-session cookie: the server's idle and absolute timeouts end the session.
    assert "max-age" not in set_cookie.lower()
    assert "expires" not in set_cookie.lower()
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


async def test_logout_tells_the_browser_to_clear_what_the_site_left(console: httpx.AsyncClient) -> None:
    await login(console, "alice", PASSWORD)
    page = await console.get("/staging/")
    out = await console.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    [gone] = [c for c in out.headers.get_list("set-cookie") if c.startswith("raxx_session=")]
    assert "max-age=0" in gone.lower()
    assert "samesite=strict" in gone.lower()


def _set_session_times(db: ProvisionedDatabase, **ago: timedelta) -> None:
    """Move every session's ``last_seen_at``/``expires_at`` to now minus the given ages."""
    with psycopg.connect(db.owner_url, autocommit=True) as conn:
        for column, age in ago.items():
            conn.execute(sql.SQL("UPDATE console_session SET {} = now() - %s").format(sql.Identifier(column)), (age,))


def _last_seen(db: ProvisionedDatabase) -> datetime:
    with psycopg.connect(db.owner_url, autocommit=True) as conn:
        row = conn.execute("SELECT last_seen_at FROM console_session").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def test_a_session_unused_past_the_idle_timeout_is_over(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "alice", PASSWORD)
    _set_session_times(console_db, last_seen_at=timedelta(minutes=59))
    assert (await console.get("/staging/")).status_code == 200  # the default idle timeout is 60 min
    _set_session_times(console_db, last_seen_at=timedelta(minutes=61))
    page = await console.get("/staging/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    _set_session_times(console_db, last_seen_at=timedelta(0))
    assert (await console.get("/staging/")).status_code == 303  # revoked, not merely idle


async def test_a_session_past_its_absolute_lifetime_is_over_however_busy(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "alice", PASSWORD)
    _set_session_times(console_db, expires_at=timedelta(seconds=1))
    page = await console.get("/staging/")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


async def test_the_orders_table_refresh_does_not_keep_a_session_alive(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await login(console, "alice", PASSWORD)
    _set_session_times(console_db, last_seen_at=timedelta(minutes=30))
    before = _last_seen(console_db)
    fragment = await console.get("/staging/orders", headers={"X-Raxx-Fragment": "orders-table"})
    assert fragment.status_code == 200
    assert 'id="orders-table"' in fragment.text
    assert _last_seen(console_db) == before  # a tab refreshing itself is not the operator
    assert (await console.get("/staging/orders")).status_code == 200
    assert _last_seen(console_db) > before


async def test_raxx_up_with_the_same_demo_password_keeps_the_demo_sessions(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    same = "restart passphrase kept 2026"
    assert ensure_demo_user(console_db.owner_url, same) == same  # first start: created
    await login(console, DEMO_USER, same)
    assert (await console.get("/staging/")).status_code == 200
    assert ensure_demo_user(console_db.owner_url, same) == same  # a restart, same RAXX_DEMO_PASSWORD
    assert (await console.get("/staging/")).status_code == 200
    ensure_demo_user(console_db.owner_url, "a changed passphrase 2026")  # a new password signs out
    assert (await console.get("/staging/")).status_code == 303


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
