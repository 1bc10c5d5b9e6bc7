"""No secret value ever appears in a log line, an error body or a page.

Raptor and the console run as real processes through the Procfile's ``raxx web``, with
their secrets in a (fake) Infisical, Raptor trading on a (fake) Alpaca paper account.
Every response they give, including refusals and error pages, and everything they log
(at DEBUG), is scanned for each known secret value.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.keys import SigningKey
from tests.fixtures.apps import add_user, csrf_from, write_registry
from tests.fixtures.fake_alpaca import FakeAlpaca
from tests.fixtures.fake_infisical import FakeInfisical
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.raptor import issue
from tests.fixtures.servers import serve
from tests.fixtures.web import web_process

pytestmark = LOOPBACK_ONLY

ALPACA_SECRET = "alpaca-paper-secret-Zq81xW"
RAPTOR_INFISICAL_SECRET = "ua-raptor-secret-Hh3k9"
CONSOLE_INFISICAL_SECRET = "ua-console-secret-Pp2m7"
CONSOLE_SECRET_KEY = "console-signing-key-" + "Kx9" * 12
AUDIT_SIGNING_KEY = SigningKey.generate().compact()
OPERATOR_PASSWORD = "correct horse battery staple 42"


def base_env(**extra: str) -> dict[str, str]:
    prefixes = ("RAPTOR_", "CONSOLE_", "GATE_", "INFISICAL_", "RAXX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k != "DATABASE_URL"}
    return {**env, **extra}


class Seen:
    """Everything the processes said, to scan at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def response(self, response: httpx.Response) -> httpx.Response:
        self.texts.append(f"{response.request.method} {response.request.url} -> {response.status_code}")
        self.texts.extend(f"{k}: {v}" for k, v in response.headers.items())
        self.texts.append(response.text)
        return response

    def assert_free_of(self, secrets: dict[str, str], *, except_set_cookie: frozenset[str] = frozenset()) -> None:
        """No value anywhere; the names in ``except_set_cookie`` may appear in Set-Cookie only
        (a session cookie must reach the browser once, and nowhere else)."""
        blob = "\n".join(self.texts)
        without_set_cookie = "\n".join(t for t in self.texts if not t.lower().startswith("set-cookie:"))
        leaked = [
            name
            for name, value in secrets.items()
            if value in (without_set_cookie if name in except_set_cookie else blob)
        ]
        assert leaked == [], f"secret values found in outputs: {leaked}"


@pytest.fixture
def infisical() -> Iterator[tuple[FakeInfisical, str]]:
    fake = FakeInfisical()
    fake.identity("raptor-staging", RAPTOR_INFISICAL_SECRET)
    fake.identity("console-prod", CONSOLE_INFISICAL_SECRET)
    with serve(fake.app()) as server:
        yield fake, server.url


def raptor_exchanges(client: httpx.Client, token: str, seen: Seen, alpaca: FakeAlpaca) -> None:
    auth = {"Authorization": f"Bearer {token}", "X-Raxx-Actor": "scanner"}
    for path in ("/healthz", "/readyz", "/v1/identity", "/openapi.json", "/docs", "/no/such/page"):
        seen.response(client.get(path))
    seen.response(client.get("/v1/orders"))  # no token
    seen.response(client.get("/v1/orders", headers={"Authorization": "Bearer rx_not_a_real_token"}))
    seen.response(client.post("/v1/orders", headers=auth, content=b"{not json"))
    seen.response(client.post("/v1/orders", headers=auth, json={"symbol": "AAPL", "side": "sideways"}))
    placed = seen.response(
        client.post(
            "/v1/orders", headers=auth, json={"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "2"}
        )
    )
    assert placed.status_code == 201, placed.text
    rich = {"symbol": "BRK", "side": "buy", "type": "market", "quantity": "100000"}
    assert seen.response(client.post("/v1/orders", headers=auth, json=rich)).json()["status"] == "rejected"
    seen.response(client.get(f"/v1/orders/{placed.json()['id']}", headers=auth))
    seen.response(client.get("/v1/account", headers=auth))
    seen.response(client.get("/v1/positions", headers=auth))
    alpaca.secret_key = "rotated-at-alpaca"  # Raptor's key is now refused: error paths everywhere
    seen.response(client.get("/readyz"))
    seen.response(client.get("/v1/account", headers=auth))
    refused = seen.response(client.post("/v1/orders", headers=auth, json={**rich, "quantity": "1"}))
    assert refused.status_code == 503, refused.text
    alpaca.secret_key = ALPACA_SECRET


def console_exchanges(client: httpx.Client, seen: Seen, made: dict[str, str]) -> None:
    """Console traffic; ``made`` receives the secrets the console mints (session, API token)."""
    for path in ("/healthz", "/readyz", "/login", "/staging/", "/no/such/page", "/favicon.ico"):
        seen.response(client.get(path))
    page = seen.response(client.get("/login"))
    wrong = {"username": "olivia", "password": "not the password", "csrf_token": csrf_from(page.text)}
    seen.response(client.post("/login", data=wrong))
    seen.response(client.post("/login", data={"username": "olivia", "password": OPERATOR_PASSWORD}))  # no CSRF
    page = seen.response(client.get("/login"))
    right = {"username": "olivia", "password": OPERATOR_PASSWORD, "csrf_token": csrf_from(page.text)}
    assert seen.response(client.post("/login", data=right)).status_code in (200, 303)
    for path in ("/", "/staging/", "/staging/health", "/prod/", "/prod/health", "/qa/health"):
        seen.response(client.get(path))
    seen.response(client.post("/switch", data={"env": "prod"}))  # no CSRF token
    made["session cookie"] = client.cookies["raxx_session"]
    # A personal API token is shown once, on the page that creates it; that page is the one
    # place it may appear, so it is kept out of the scan and everything after is scanned.
    tokens_page = seen.response(client.get("/tokens"))
    created = client.post("/tokens", data={"name": "scanner", "csrf_token": csrf_from(tokens_page.text)})
    assert created.status_code == 200, created.text
    match = re.search(r'id="new-token" class="token">([^<]+)<', created.text)
    assert match, "the new token was not shown"
    made["console api token"] = match.group(1)
    auth = {"Authorization": f"Bearer {match.group(1)}"}
    for path in ("/api/whoami", "/api/staging/orders", "/api/prod/orders", "/api/qa/orders", "/api/nowhere/orders"):
        seen.response(client.get(path, headers=auth))
    seen.response(client.post("/api/staging/orders", headers=auth, content=b"{not json"))
    seen.response(client.get("/api/staging/orders", headers={"Authorization": f"Bearer {match.group(1)}x"}))
    seen.response(client.get("/tokens"))  # the list shows names and ids, never the token again


def test_no_secret_value_reaches_logs_error_bodies_or_pages(
    tmp_path: Path,
    raptor_db: ProvisionedDatabase,
    console_db: ProvisionedDatabase,
    infisical: tuple[FakeInfisical, str],
) -> None:
    fake_infisical, infisical_url = infisical
    alpaca = FakeAlpaca(secret_key=ALPACA_SECRET)
    raptor_token = issue(raptor_db, "staging", "read", "trade", name="console")
    prod_token = "rx_prod_token_for_a_dead_backend_Jq7"
    fake_infisical.put(
        "proj",
        "staging",
        "/raptor",
        {"RAPTOR_ALPACA_API_KEY_ID": alpaca.key_id, "RAPTOR_ALPACA_API_SECRET_KEY": ALPACA_SECRET},
    )
    fake_infisical.put(
        "proj",
        "prod",
        "/console",
        {
            "CONSOLE_SECRET_KEY": CONSOLE_SECRET_KEY,
            "CONSOLE_AUDIT_SIGNING_KEY": AUDIT_SIGNING_KEY,
            "RAPTOR_TOKEN_STAGING": raptor_token,
            "RAPTOR_TOKEN_PROD": prod_token,
        },
    )
    asyncio.run(add_user(console_db, "olivia", OPERATOR_PASSWORD, {"staging": "admin", "prod": "viewer"}))
    secrets = {
        "alpaca secret key": ALPACA_SECRET,
        "raptor infisical client secret": RAPTOR_INFISICAL_SECRET,
        "console infisical client secret": CONSOLE_INFISICAL_SECRET,
        "console secret key": CONSOLE_SECRET_KEY,
        "audit checkpoint signing key": AUDIT_SIGNING_KEY,
        "raptor staging token": raptor_token,
        "raptor prod token": prod_token,
        "raptor database password": raptor_db.runtime_url.split(":")[2].split("@")[0],
        "console database password": console_db.runtime_url.split(":")[2].split("@")[0],
        "operator password": OPERATOR_PASSWORD,
    }
    seen = Seen()
    minted: dict[str, str] = {}
    with serve(alpaca.app()) as alpaca_server:
        raptor_env = base_env(
            RAXX_APP="raptor",
            DATABASE_URL=raptor_db.runtime_url,
            RAPTOR_ENVIRONMENT="staging",
            RAPTOR_BROKER="alpaca",
            RAPTOR_ALPACA_BASE_URL=alpaca_server.url,
            RAPTOR_LOG_LEVEL="DEBUG",
            INFISICAL_UNIVERSAL_AUTH_CLIENT_ID="raptor-staging",
            INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=RAPTOR_INFISICAL_SECRET,
            INFISICAL_PROJECT_ID="proj",
            INFISICAL_ENVIRONMENT="staging",
            INFISICAL_API_URL=infisical_url,
        )
        with web_process(raptor_env, tmp_path / "raptor.log") as raptor_url:
            with httpx.Client(base_url=raptor_url, timeout=20) as client:
                raptor_exchanges(client, raptor_token, seen, alpaca)
            registry = write_registry(
                tmp_path / "environments.toml",
                {"staging": raptor_url, "prod": f"http://127.0.0.1:{free_port()}", "qa": raptor_url},
            )
            console_env = base_env(
                RAXX_APP="console",
                DATABASE_URL=console_db.runtime_url,
                CONSOLE_ENVIRONMENTS_FILE=str(registry),
                CONSOLE_LOG_LEVEL="DEBUG",
                RAPTOR_TOKEN_QA=raptor_token,
                INFISICAL_UNIVERSAL_AUTH_CLIENT_ID="console-prod",
                INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET=CONSOLE_INFISICAL_SECRET,
                INFISICAL_PROJECT_ID="proj",
                INFISICAL_ENVIRONMENT="prod",
                INFISICAL_API_URL=infisical_url,
            )
            with (
                web_process(console_env, tmp_path / "console.log") as console_url,
                httpx.Client(base_url=console_url, timeout=20, follow_redirects=True) as client,
            ):
                console_exchanges(client, seen, minted)

    raptor_log, console_log = (tmp_path / "raptor.log").read_text(), (tmp_path / "console.log").read_text()
    seen.texts += [raptor_log, console_log]
    assert set(minted) == {"session cookie", "console api token"}
    seen.assert_free_of({**secrets, **minted}, except_set_cookie=frozenset({"session cookie"}))
    # The scan looked at real traffic: Raptor traded on Alpaca, the console signed in and
    # rendered staging through Raptor with the token it never shows.
    assert "order.submit.ok" in raptor_log
    assert "secrets.infisical.load.ok" in raptor_log
    assert "secrets.infisical.load.ok" in console_log
    assert any(text.startswith("GET http://127.0.0.1") and "/staging/ -> 200" in text for text in seen.texts)
    assert [o["client_order_id"] for o in alpaca.orders.values()]
    assert fake_infisical.logins == 2
