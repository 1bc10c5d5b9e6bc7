"""The authorization matrix: every console route and every Raptor endpoint, against every
role in every environment, allowed or refused as the table below says (ASVS v5.0.0-8.2.1,
8.2.2, 8.3.1; requirement S13 of the audit-security anchors).

The tables are kept here, by hand: a route or endpoint added to the product without an
entry fails :func:`test_every_console_route_has_a_matrix_entry` or
:func:`test_every_raptor_endpoint_has_a_matrix_entry`, so nobody can add one without
deciding who may call it.

A principal holds one role in one environment (or none); it is tried against both
environments, so the matrix also proves that a role in staging grants nothing in prod.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from raxx.common.doors import walk_routes
from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor, raptor_tokens
from tests.console.helpers import order_form
from tests.fixtures.apps import console_app, csrf_from
from tests.fixtures.security import ENVIRONMENTS, Principal, add_user, browser, principals

BYSTANDER_PASSWORD = "a long quiet passphrase here"
PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed-in"  # any signed-in operator, whatever their roles
SCRAPE_TOKEN = "scrape-token"  # Prometheus with CONSOLE_METRICS_TOKEN only: no session or role opens it
#: Console routes: (method, path) -> who may call it. A capability (read, trade, admin,
#: audit) is needed in the environment the request names.
CONSOLE_MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/theme/{env}.css"): PUBLIC,
    ("GET", "/favicon/{env}.svg"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/audit-assets/env-tags.css"): PUBLIC,
    ("GET", "/.well-known/raxx-audit-keys.json"): PUBLIC,  # public keys: they verify, they cannot sign
    ("GET", "/static"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,  # documents the JSON API for script authors; names no secret
    ("GET", "/{env}"): PUBLIC,  # a bare redirect to /{env}/, which is then checked
    ("GET", "/metrics"): SCRAPE_TOKEN,
    ("GET", "/login/oidc"): PUBLIC,  # starts a single sign-on (404 when OIDC is not configured)
    ("GET", "/login/oidc/callback"): PUBLIC,  # the provider's answer; state, nonce and token checked
    ("GET", "/"): SIGNED_IN,
    ("POST", "/logout"): SIGNED_IN,
    ("GET", "/compare"): SIGNED_IN,
    ("GET", "/releases"): SIGNED_IN,  # read-only: what runs where, from the gate's ledger
    ("GET", "/tokens"): SIGNED_IN,
    ("POST", "/tokens"): SIGNED_IN,
    ("POST", "/tokens/{token_id}/revoke"): SIGNED_IN,
    ("GET", "/api/whoami"): SIGNED_IN,
    ("GET", "/alerts"): SIGNED_IN,  # lists only the environments where the user holds a role
    ("GET", "/login/oidc/resume/{ref}"): SIGNED_IN,  # only the session's own interrupted action
    ("POST", "/switch"): "read",
    ("GET", "/{env}/"): "read",
    ("GET", "/{env}/health"): "read",
    ("GET", "/{env}/orders"): "read",
    ("GET", "/{env}/orders/{order_id}"): "read",
    ("GET", "/{env}/positions"): "read",
    ("GET", "/{env}/account"): "read",
    ("GET", "/{env}/trading"): "read",
    ("GET", "/{env}/orders/export.csv"): "read",
    ("GET", "/{env}/orders/new"): "trade",
    ("POST", "/{env}/orders"): "trade",
    ("POST", "/{env}/orders/{order_id}/cancel"): "trade",
    ("POST", "/{env}/orders/cancel-all"): "trade",
    ("POST", "/{env}/trading/halt"): "admin",
    ("POST", "/{env}/trading/resume"): "admin",
    ("GET", "/{env}/users"): "admin",
    ("POST", "/{env}/users/role"): "admin",
    ("GET", "/{env}/audit"): "audit",
    ("GET", "/{env}/audit/{seq}"): "audit",
    ("GET", "/{env}/audit/export.csv"): "audit",
    ("POST", "/{env}/releases/{app}/approve"): "admin",
    ("POST", "/{env}/releases/{app}/promote"): "admin",
    ("POST", "/{env}/releases/{app}/rollback"): "admin",
    ("GET", "/api/{env}/identity"): "read",
    ("GET", "/api/{env}/orders"): "read",
    ("GET", "/api/{env}/orders/{order_id}"): "read",
    ("GET", "/api/{env}/positions"): "read",
    ("GET", "/api/{env}/account"): "read",
    ("GET", "/api/{env}/trading"): "read",
    ("POST", "/api/{env}/orders"): "trade",
    ("DELETE", "/api/{env}/orders/{order_id}"): "trade",
    ("DELETE", "/api/{env}/orders"): "trade",
    ("POST", "/api/{env}/trading/halt"): "admin",
    ("POST", "/api/{env}/trading/resume"): "admin",
}
#: What each role may do in the environment where it is held (the product's table is
#: ``raxx.console.auth.roles``; this one is written out so a change there shows here).
ROLE_CAPABILITIES: dict[str, set[str]] = {
    "viewer": {"read"},
    "auditor": {"read", "audit"},
    "operator": {"read", "trade"},
    "admin": {"read", "trade", "admin", "audit"},
}
#: Raptor endpoints: (method, path) -> the token scope needed (None: no token needed).
RAPTOR_MATRIX: dict[tuple[str, str], str | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/v1/identity"): None,
    ("POST", "/v1/orders"): "trade",
    ("GET", "/v1/orders"): "read",
    ("DELETE", "/v1/orders"): "trade",
    ("GET", "/v1/orders/summary"): "read",
    ("GET", "/v1/orders/{order_id}"): "read",
    ("DELETE", "/v1/orders/{order_id}"): "trade",
    ("GET", "/v1/positions"): "read",
    ("GET", "/v1/positions/{symbol}"): "read",
    ("GET", "/v1/account"): "read",
    ("GET", "/v1/trading"): "read",
    ("POST", "/v1/trading/halt"): "admin",
    ("POST", "/v1/trading/resume"): "admin",
    ("GET", "/v1/requests/{request_id}"): "read",
    ("GET", "/v1/paper/prices/{symbol}"): "read",
    ("PUT", "/v1/paper/prices/{symbol}"): "admin",
    ("DELETE", "/v1/paper/prices/{symbol}"): "admin",
}


def console_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the console app serves: its routes and its mounts (HEAD is GET's)."""
    found: set[tuple[str, str]] = set()
    for path, route in walk_routes(app.routes):
        if isinstance(route, (APIRoute, Route)):
            found |= {(method, path) for method in route.methods or () if method != "HEAD"}
        elif isinstance(route, Mount):
            found.add(("GET", path))
    return found


def raptor_endpoints(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def test_every_console_route_has_a_matrix_entry(console_asgi: FastAPI) -> None:
    served = console_routes(console_asgi)
    assert served - set(CONSOLE_MATRIX) == set(), "routes without an authorization entry: decide who may call them"
    assert set(CONSOLE_MATRIX) - served == set(), "matrix entries for routes that no longer exist"


def test_every_raptor_endpoint_has_a_matrix_entry() -> None:
    from tests.raptor.test_schema_fuzz import _document

    served = raptor_endpoints(_document())
    assert served - set(RAPTOR_MATRIX) == set(), "endpoints without an authorization entry"
    assert set(RAPTOR_MATRIX) - served == set(), "matrix entries for endpoints that no longer exist"


# -- the console ------------------------------------------------------------------------


@dataclass
class Targets:
    """Real objects for path parameters: an open order per environment, an audit event."""

    orders: dict[str, str]
    audit_seq: int
    app: FastAPI


def _expected(rule: str, who: Principal, env: str | None) -> bool:
    if rule == PUBLIC:
        return True
    if who.anonymous or rule == SCRAPE_TOKEN:
        return False
    if rule == SIGNED_IN:
        return True
    assert env is not None
    role = who.role_in(env)
    return role is not None and rule in ROLE_CAPABILITIES[role]


def _allowed(response: httpx.Response) -> bool:
    """Allowed: the request got past authorization (whatever the business answer was)."""
    if response.status_code in (401, 403):
        return False
    if response.request.url.path == "/metrics":  # no scrape token configured: it does not exist
        return response.status_code != 404
    if response.request.url.path == "/logout":  # its success is the way back to the sign-in page
        return response.status_code == 303
    return not (response.status_code in (302, 303, 307) and response.headers["location"].startswith("/login"))


def _fill(path: str, env: str, who: Principal, targets: Targets) -> str:
    return (
        path.replace("{env}", env)
        .replace("{order_id}", targets.orders[env])
        .replace("{token_id}", who.own_token_id or "0" * 16)
        .replace("{seq}", str(targets.audit_seq))
        .replace("{app}", "raptor")
        .replace("{ref}", "0" * 32)
    )


def _form(method: str, path: str, env: str, who: Principal) -> dict[str, str] | None:
    if method != "POST" or path.startswith("/api/"):
        return None
    base = {"csrf_token": who.csrf, "environment": env}
    extra: dict[str, dict[str, str]] = {
        "/{env}/orders": order_form(who.csrf, env, type="limit", limit_price="1", client_order_id=uuid.uuid4().hex),
        "/{env}/trading/halt": {**base, "reason": "authorization matrix"},
        "/{env}/users/role": {**base, "user": "bystander", "role": "viewer"},
        "/tokens": {"csrf_token": who.csrf, "name": f"matrix-{uuid.uuid4().hex[:8]}"},
        "/switch": {"csrf_token": who.csrf, "to_env": env, "from_env": env, "next": "/"},
    }
    return extra.get(path, base)


def _json(method: str, path: str) -> dict[str, Any] | None:
    if path == "/api/{env}/orders" and method == "POST":
        return {"symbol": "F", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}
    if path == "/api/{env}/trading/halt":
        return {"reason": "authorization matrix"}
    return None


async def _call(who: Principal, method: str, path: str, env: str, targets: Targets) -> httpx.Response:
    url = _fill(path, env, who, targets)
    if path == "/static":
        url = "/static/console.css"
    if path == "/login" and method == "POST":  # a sign-in attempt anyone may make (it fails: wrong password)
        async with browser(targets.app) as fresh:  # a signed-in browser is sent on from /login
            page = await fresh.get("/login")
            data = {"username": "bystander", "password": BYSTANDER_PASSWORD, "csrf_token": csrf_from(page.text)}
            return await fresh.post(url, data=data)
    headers = who.bearer if path.startswith("/api/") else {}
    form, body = _form(method, path, env, who), _json(method, path)
    return await who.client.request(method, url, data=form, json=body, headers=headers)


async def _audit_count(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SELECT max(seq) FROM audit_event")).fetchone()
    assert row is not None
    return int(row[0] or 0)


def _open_order(raptor: RunningRaptor) -> str:
    body = {"symbol": "F", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}
    with raptor.direct() as client:
        response = client.post("/v1/orders", json=body, headers={"X-Raxx-Actor": "matrix-setup"})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


#: Routes whose call would end the principal's session: called last, for each principal.
_LAST = {("POST", "/logout")}


def _ordered(matrix: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    return sorted(matrix, key=lambda key: (key in _LAST, key))


@pytest.fixture
def matrix_console(console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]) -> FastAPI:
    """The console of the matrix, waiting up to 10 s for Raptor: the matrix judges who may do
    what, and the shared 2 s made one read a 504 on CI's loaded machine (three suites at once)."""
    return console_app(console_db, registry_file, raptor_tokens(raptors), raptor_timeout_s=10.0)


async def test_console_matrix(
    console_db: ProvisionedDatabase, matrix_console: FastAPI, raptors: dict[str, RunningRaptor]
) -> None:
    """Each principal x route x environment: allowed exactly when the table says so, and
    every refusal of a signed-in operator leaves an audit event (A1, ASVS v5.0.0-16.3.2)."""
    from tests.fixtures.apps import asgi_client

    await add_user(console_db, "bystander", BYSTANDER_PASSWORD, {"staging": "viewer"})
    mismatches: list[str] = []
    async with (
        asgi_client(matrix_console),
        principals(matrix_console, console_db) as team,
        await psycopg.AsyncConnection.connect(console_db.runtime_url, autocommit=True) as audit,
    ):
        targets = Targets({env: _open_order(raptors[env]) for env in ENVIRONMENTS}, 1, matrix_console)
        for who in team:
            for method, path in _ordered(CONSOLE_MATRIX):
                rule = CONSOLE_MATRIX[(method, path)]
                envs: tuple[str | None, ...] = (
                    ENVIRONMENTS if "{env}" in path or rule not in (PUBLIC, SIGNED_IN, SCRAPE_TOKEN) else (None,)
                )
                for env in envs:
                    before = await _audit_count(audit)
                    response = await _call(who, method, path, env or "staging", targets)
                    # This console has no gate ledger: a release action that passed authorization
                    # is answered 503 "the gate is not reachable", which is past the check.
                    no_ledger = path.startswith("/{env}/releases/") and response.status_code == 503
                    assert response.status_code < 500 or no_ledger, (
                        f"{who.name} {method} {path} {env}: {response.text[:300]}"
                    )
                    expected, got = _expected(rule, who, env), _allowed(response)
                    if expected != got:
                        mismatches.append(
                            f"{who.name:18} {method:6} {path:34} {env}: expected "
                            f"{'allow' if expected else 'deny'}, got {response.status_code}"
                        )
                    elif not got and response.status_code == 403 and await _audit_count(audit) <= before:
                        mismatches.append(f"{who.name} {method} {path} {env}: a refusal left no audit event")
    assert mismatches == [], "\n" + "\n".join(mismatches)


# -- Raptor -----------------------------------------------------------------------------

#: Token kinds: (environment the token was issued for, its scopes); None: no token at all.
TOKEN_KINDS: dict[str, tuple[str, list[str]] | None] = {
    "none": None,
    "read": ("staging", ["read"]),
    "trade": ("staging", ["trade"]),
    "admin": ("staging", ["admin"]),
    "all": ("staging", ["read", "trade", "admin"]),
    "prod-all": ("prod", ["read", "trade", "admin"]),  # a prod token, presented to staging
}
_IMPLIED = {"read": {"read"}, "trade": {"trade", "read"}, "admin": {"admin", "read"}}


def _raptor_expected(scope: str | None, kind: str) -> bool:
    if scope is None:
        return True
    token = TOKEN_KINDS[kind]
    if token is None or token[0] != "staging":
        return False
    return any(scope in _IMPLIED[s] for s in token[1])


def _raptor_request(method: str, path: str, order_id: str) -> dict[str, Any]:
    url = path.replace("{order_id}", order_id).replace("{symbol}", "F").replace("{request_id}", str(uuid.uuid4()))
    body: dict[str, Any] | None = None
    if (method, path) == ("POST", "/v1/orders"):
        body = {"symbol": "F", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}
    elif path == "/v1/trading/halt":
        body = {"reason": "authorization matrix"}
    elif method == "PUT":
        body = {"price": "10"}
    return {"method": method, "url": url, "json": body}


@pytest.fixture
def raptor_tokens_by_kind(raptors: dict[str, RunningRaptor]) -> dict[str, str | None]:
    from raxx.raptor.token.service import issue_token_sync

    return {
        kind: None
        if spec is None
        else issue_token_sync(raptors[spec[0]].db.runtime_url, environment=spec[0], scopes=spec[1], name=kind)
        for kind, spec in TOKEN_KINDS.items()
    }


def test_raptor_matrix(raptors: dict[str, RunningRaptor], raptor_tokens_by_kind: dict[str, str | None]) -> None:
    """Each Raptor endpoint x token kind: a missing scope is 403, a missing or foreign token 401."""
    staging = raptors["staging"]
    mismatches: list[str] = []
    with httpx.Client(base_url=staging.url, timeout=10) as client:
        order_id = _open_order(staging)
        for (method, path), scope in sorted(RAPTOR_MATRIX.items()):
            for kind, token in raptor_tokens_by_kind.items():
                headers = {"X-Raxx-Actor": f"matrix-{kind}"}
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                response = client.request(headers=headers, **_raptor_request(method, path, order_id))
                assert response.status_code < 500 or path == "/readyz", f"{method} {path} {kind}: {response.text}"
                expected, got = _raptor_expected(scope, kind), response.status_code not in (401, 403)
                if expected != got:
                    mismatches.append(
                        f"{kind:9} {method:6} {path:30}: expected "
                        f"{'allow' if expected else 'deny'}, got {response.status_code}"
                    )
                elif not got:
                    wanted = 403 if token and TOKEN_KINDS[kind] and TOKEN_KINDS[kind][0] == "staging" else 401  # type: ignore[index]
                    if response.status_code != wanted:
                        mismatches.append(f"{kind} {method} {path}: refused with {response.status_code}, not {wanted}")
                    elif not {"error", "detail"} <= set(response.json()):
                        mismatches.append(f"{kind} {method} {path}: refusal not in the one error shape")
        client.post("/v1/trading/resume", headers={"Authorization": f"Bearer {staging.token}"})
    assert mismatches == [], "\n" + "\n".join(mismatches)
