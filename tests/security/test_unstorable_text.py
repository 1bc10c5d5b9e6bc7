"""Text PostgreSQL cannot store is a field error at every entrance, never a 500 (raxx.common.storable).

Two kinds: NUL (U+0000) and lone UTF-16 surrogates (U+D800..U+DFFF). A JSON body can carry
both (``\\u0000``, ``\\udc00``); a form field, a query parameter or a path segment only NUL
(``%00``): Starlette decodes those with replacement, so bytes that would make a surrogate
arrive as U+FFFD. One-line fields (reasons, names, filters) refuse other control characters
too. For each entrance: the app's 4xx error shape, nothing changed in the database, the app
still serving, and for the console's actions an audit outcome like any other refused input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from raxx.cli import _register_groups, cli
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.deps import SessionDep
from raxx.raptor.trading import repository as trading
from tests.console.conftest import RunningRaptor
from tests.console.helpers import outcomes, signed_in
from tests.fixtures.apps import asgi_client, raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, trading_client
from tests.fixtures.security import issue_api_token
from tests.security.test_bad_input import assert_html_error, assert_json_error

NUL = "\x00"
SURROGATE = "\udc00"
ESCAPE = "\x1b[2J"  # a control character: refused where the field is one line
#: A right-to-left override: the rest of the line reads backwards ("Trojan Source"), one-line fields refuse it.
BIDI = "\u202e"


def table_counts(url: str) -> dict[str, int]:
    """Rows per table of the database (the audit trail aside: a refused action is recorded)."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'audit_event'"
        ).fetchall()
        count = "SELECT count(*) FROM {}"
        return {t: conn.execute(sql.SQL(count).format(sql.Identifier(t))).fetchone()[0] for (t,) in tables}  # type: ignore[index]


def raw_json(body: dict[str, Any]) -> bytes:
    """The body as a client writes it: NUL and surrogates as ``\\u`` escapes, as the fuzzer sends them."""
    return json.dumps(body).encode()


# -- Raptor ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entrance:
    """One place text comes in: ``send`` makes the request carrying ``bad`` in that place."""

    name: str
    send: Callable[[httpx.AsyncClient, str], Any]
    one_line: bool = True

    def __str__(self) -> str:
        return self.name


def _post_json(path: str, make: Callable[[str], dict[str, Any]]) -> Callable[[httpx.AsyncClient, str], Any]:
    def send(client: httpx.AsyncClient, bad: str) -> Any:
        return client.post(path, content=raw_json(make(bad)), headers={"Content-Type": "application/json"})

    return send


def _order(**fields: str) -> dict[str, Any]:
    return {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1", **fields}


RAPTOR_ENTRANCES = [
    Entrance("halt reason", _post_json("/v1/trading/halt", lambda bad: {"reason": f"drill{bad}"})),
    Entrance("order symbol", _post_json("/v1/orders", lambda bad: _order(symbol=f"AAPL{bad}"))),
    Entrance("client_order_id", _post_json("/v1/orders", lambda bad: _order(client_order_id=f"c-1{bad}"))),
    Entrance("order filter", lambda c, bad: c.get("/v1/orders", params={"client_order_id": f"c-1{bad}"})),
    Entrance("symbol in path", lambda c, bad: c.put(f"/v1/paper/prices/{quote('AAPL' + bad)}", json={"price": "1"})),
]


def _raptor_cases() -> list[Any]:
    cases = []
    for entrance in RAPTOR_ENTRANCES:
        in_url = "filter" in entrance.name or "path" in entrance.name
        for label, bad in (("nul", NUL), ("surrogate", SURROGATE), ("control", ESCAPE), ("bidi", BIDI)):
            if label == "surrogate" and in_url:
                continue  # a URL cannot carry one (see the module's docstring)
            cases.append(pytest.param(entrance, bad, id=f"{entrance}-{label}"))
    return cases


@pytest.mark.parametrize(("entrance", "bad"), _raptor_cases())
async def test_raptor_refuses_unstorable_text_with_its_422(
    raptor_db: ProvisionedDatabase, entrance: Entrance, bad: str
) -> None:
    async with trading_client(raptor_db, raise_app_exceptions=False) as client:
        assert (await client.get("/v1/trading")).status_code == 200  # up: its token and paper account written
        before = table_counts(raptor_db.runtime_url)
        refused = await entrance.send(client, bad)
        still = await client.get("/v1/trading")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "validation_error"
    assert refused.json()["detail"][0]["field"]  # it names the field
    assert still.status_code == 200
    assert still.json()["halted"] is False
    assert table_counts(raptor_db.runtime_url) == before


async def test_raptor_takes_an_ordinary_reason_after_refusing_one(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        refused = await client.post(
            "/v1/trading/halt", content=raw_json({"reason": f"a{NUL}b"}), headers={"Content-Type": "application/json"}
        )
        halted = await client.post("/v1/trading/halt", json={"reason": "drill: é, ü and 株 are fine"})
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["detail"]] == ["reason"]  # the NUL, not the body's type
    assert halted.status_code == 200, halted.text
    assert halted.json()["reason"] == "drill: é, ü and 株 are fine"


async def test_raptor_answers_text_that_still_reaches_a_statement_with_its_422_and_rolls_back(
    raptor_db: ProvisionedDatabase,
) -> None:
    """The net behind the fields' checks, in the real app: a route (added here) that writes
    unchecked text after a first write; the answer is the 422 shape, the first write undone."""
    app = create_raptor_app(raptor_settings(raptor_db, "staging", **QUIET))

    @app.post("/test/unchecked-halt")
    async def unchecked_halt(session: SessionDep) -> None:
        await trading.switch(session, halted=True, reason="first", actor=None, token_id="t", request_id="r")
        await trading.append_event(session, action="halt", reason=f"a{NUL}b", actor=None, token_id="t", request_id="r")

    async with asgi_client(app, raise_app_exceptions=False) as client:
        refused = await client.post("/test/unchecked-halt")
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "validation_error"
    with psycopg.connect(raptor_db.runtime_url) as conn:
        assert conn.execute("SELECT halted FROM trading_state").fetchone() == (False,)


# -- the console's JSON API -------------------------------------------------------

API_ENTRANCES = [
    Entrance("halt reason", _post_json("/api/staging/trading/halt", lambda bad: {"reason": f"drill{bad}"})),
    Entrance("order symbol", _post_json("/api/staging/orders", lambda bad: _order(symbol=f"AAPL{bad}"))),
    Entrance("client_order_id", _post_json("/api/staging/orders", lambda bad: _order(client_order_id=f"c-1{bad}"))),
]


@pytest.fixture
async def api(console: httpx.AsyncClient, console_db: ProvisionedDatabase) -> httpx.AsyncClient:
    token, _ = await issue_api_token(console_db, "alice")
    console.headers["Authorization"] = f"Bearer {token}"
    return console


@pytest.mark.parametrize("entrance", API_ENTRANCES, ids=str)
@pytest.mark.parametrize(
    ("bad", "status"),
    [(NUL, 422), (ESCAPE, 422), (BIDI, 422), (SURROGATE, 400)],
    ids=["nul", "control", "bidi", "surrogate"],
)
async def test_console_api_refuses_unstorable_text(
    api: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    raptors: dict[str, RunningRaptor],
    entrance: Entrance,
    bad: str,
    status: int,
) -> None:
    """NUL and control characters: the field named (422). A lone surrogate: the body is no
    JSON the console reads (400 ``invalid_json``; its parser takes UTF-8 only)."""
    before = table_counts(raptors["staging"].db.runtime_url), table_counts(console_db.runtime_url)
    refused = await entrance.send(api, bad)
    assert_json_error(refused, status)
    assert refused.json()["error"] == ("validation_error" if status == 422 else "invalid_json")
    switch = await api.get("/api/staging/trading")
    assert (switch.status_code, switch.json().get("halted")) == (200, False), switch.text  # its body says why, if not
    assert (table_counts(raptors["staging"].db.runtime_url), table_counts(console_db.runtime_url)) == before


async def test_a_refused_reason_is_audited_as_any_refused_input(
    api: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """The attempt and its outcome are recorded, as for a blank reason: failed, 422, nothing sent."""
    for reason in ("", f"drill{NUL}"):
        refused = await api.post(
            "/api/staging/trading/halt",
            content=raw_json({"reason": reason}),
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 422
    blank, nul = outcomes(console_db, action="trading.halt")[-2:]
    assert (nul["outcome"], nul["http_status"]) == (blank["outcome"], blank["http_status"]) == ("failed", 422)
    assert "\x00" not in json.dumps(nul["params"])  # the trail keeps it as a visible escape


# -- the console's pages ----------------------------------------------------------


def _form(path: str, field: str, **fields: str) -> Callable[[httpx.AsyncClient, str, str], Any]:
    """A form posted as the signed-in operator would (CSRF token and environment included)."""

    def send(client: httpx.AsyncClient, csrf: str, bad: str) -> Any:
        data = {"csrf_token": csrf, "environment": "staging", **fields, field: f"x{bad}"}
        return client.post(path.format(bad=quote(bad)), data=data)

    return send


def _in_path(path: str, **fields: str) -> Callable[[httpx.AsyncClient, str, str], Any]:
    def send(client: httpx.AsyncClient, csrf: str, bad: str) -> Any:
        return client.post(path.format(bad=quote(f"x{bad}")), data={"csrf_token": csrf, "environment": "staging"})

    return send


def _query(path: str, field: str) -> Callable[[httpx.AsyncClient, str, str], Any]:
    def send(client: httpx.AsyncClient, csrf: str, bad: str) -> Any:
        return client.get(path, params={field: f"x{bad}"})

    return send


@dataclass(frozen=True)
class Page:
    name: str
    send: Callable[[httpx.AsyncClient, str, str], Any]
    one_line: bool

    def __str__(self) -> str:
        return self.name


PAGES = [
    Page("halt reason", _form("/staging/trading/halt", "reason"), True),
    Page("token name", _form("/tokens", "name", expires_days="90"), True),
    Page("token id in path", _in_path("/tokens/{bad}/revoke"), False),
    Page("user whose role changes", _form("/staging/users/role", "user", role="viewer"), False),
    Page("release note", _form("/staging/releases/raptor/approve", "note", release="r1"), False),
    Page("app in path", _in_path("/staging/releases/{bad}/approve"), True),
    Page("audit filter", _query("/staging/audit", "actor"), True),
    Page("sign-in state", _query("/login/oidc/callback", "state"), False),
]


def _page_cases() -> list[Any]:
    cases = [pytest.param(page, NUL, id=f"{page}-nul") for page in PAGES]
    cases += [pytest.param(page, ESCAPE, id=f"{page}-control") for page in PAGES if page.one_line]
    return cases


@pytest.mark.parametrize(("page", "bad"), _page_cases())
async def test_console_pages_refuse_unstorable_text(
    console: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    raptors: dict[str, RunningRaptor],
    page: Page,
    bad: str,
) -> None:
    csrf = await signed_in(console, "alice")
    before = table_counts(raptors["staging"].db.runtime_url), table_counts(console_db.runtime_url)
    refused = await page.send(console, csrf, bad)
    assert_html_error(refused, 422)
    assert (await console.get("/staging/trading")).status_code == 200
    assert (table_counts(raptors["staging"].db.runtime_url), table_counts(console_db.runtime_url)) == before


@pytest.mark.parametrize("bad", [NUL, ESCAPE], ids=["nul", "control"])
async def test_sign_in_refuses_an_unstorable_name_and_counts_nothing(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, bad: str
) -> None:
    before = table_counts(console_db.runtime_url)
    refused = await console.post("/login", data={"username": f"alice{bad}", "password": "x", "csrf_token": "x"})
    assert_html_error(refused, 422)
    assert table_counts(console_db.runtime_url) == before  # no failed attempt counted, no session
    assert await signed_in(console, "alice")  # the app still serves, alice still signs in


# -- command lines ------------------------------------------------------------------

#: Arguments that are not UTF-8 reach Python as lone surrogates (``surrogateescape``).
NOT_UTF8 = b"ops-\xff".decode("utf-8", "surrogateescape")
COMMANDS = [
    pytest.param(
        ["raptor", "token", "issue", "--env", "staging", "--scope", "read", "--name", NOT_UTF8], id="token-name"
    ),
    pytest.param(["raptor", "token", "revoke", NOT_UTF8], id="token-id"),
    pytest.param(["console", "user", "add", f"bob{ESCAPE}"], id="user-name"),
    pytest.param(["console", "token", "create", NOT_UTF8, "--user", "alice"], id="console-token-name"),
    pytest.param(["audit", "export", "--actor", f"a{ESCAPE}"], id="audit-filter"),
    pytest.param(
        ["gate", "freeze", "--env", "staging", "--for", "1h", "--reason", f"drill{ESCAPE}"], id="freeze-reason"
    ),
    pytest.param(
        [
            "gate",
            "incident",
            "open",
            "--app",
            "raptor",
            "--component",
            "api",
            "--severity",
            "minor",
            "--title",
            NOT_UTF8,
        ],
        id="incident-title",
    ),
    pytest.param(["gate", "attest", "raptor", "item", "--note", NOT_UTF8], id="attest-note"),
]


@pytest.fixture(scope="module")
def cli_databases(test_databases: DatabaseFactory) -> dict[str, ProvisionedDatabase]:
    """Each database the commands write to, shared by the cases (each one writes nothing)."""
    return {
        area: test_databases.fresh(tree)
        for area, tree in (("RAPTOR", "raptor"), ("CONSOLE", "console"), ("GATE", "ledger"))
    }


@pytest.mark.parametrize("args", COMMANDS)
def test_commands_refuse_text_they_could_not_store_before_running(
    cli_databases: dict[str, ProvisionedDatabase], args: list[str]
) -> None:
    """A usage error (exit 2) naming the option, before anything is written: every database
    the commands would write to is handed over, and none gains a row."""
    _register_groups()
    env = {f"{area}_DATABASE_URL": db.runtime_url for area, db in cli_databases.items()}
    before = {area: table_counts(db.runtime_url) for area, db in cli_databases.items()}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 2, result.output
    assert "Invalid value for" in result.output
    assert "may not contain" in result.output
    assert {area: table_counts(db.runtime_url) for area, db in cli_databases.items()} == before
