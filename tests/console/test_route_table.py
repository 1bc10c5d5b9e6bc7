"""Walk the route table: every mutating route is audited, with what its action really did.

``tests/console/audit/test_console_audit.py`` proves every state-changing route is an
``AuditedRoute`` that writes an attempt and an outcome even for an empty probe. This walk
adds what only a real request shows: a new POST/PUT/PATCH/DELETE route fails
``test_every_mutating_route_has_a_recorded_sample`` until it gets a sample request here;
each sample, made by someone allowed to, must leave an attempt and an ``ok`` outcome in
its environment that names the action's canonical target (through ``actions.perform``),
and, made by a viewer, a ``denied`` outcome and nothing sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from fastapi.routing import APIRoute

from raxx.common.actions import ACTIONS
from raxx.common.db import create_engine, session_factory
from raxx.common.provision import ProvisionedDatabase
from raxx.console.apitoken import service as tokens
from raxx.console.app import ROUTERS
from tests.console.conftest import RunningRaptor
from tests.console.helpers import audit_events, audit_head, order_form, raptor_orders, signed_in

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
#: Routes that record events rather than actions; each is covered by its own test.
EVENT_ROUTES = {("POST", "/login"), ("POST", "/logout"), ("POST", "/switch")}
#: Release actions go through ``perform`` too, but succeed only with the gate's ledger and its request
#: runner going: tests/console/test_release_actions.py records their attempts, outcomes and denials.
GATE_ROUTES = {
    ("POST", "/{env}/releases/{app}/approve"),
    ("POST", "/{env}/releases/{app}/promote"),
    ("POST", "/{env}/releases/{app}/rollback"),
}


@dataclass
class Ctx:
    client: httpx.AsyncClient
    csrf: str
    token: str
    made: dict[str, str]
    #: An open order made by someone allowed to (a forged cancel needs a real target).
    resting: str | None = None

    def web(self, **fields: str) -> dict[str, str]:
        return {"csrf_token": self.csrf, "environment": "staging", **fields}

    @property
    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


Sample = Callable[[Ctx], Awaitable[httpx.Response]]


async def _resting(ctx: Ctx) -> str:
    if ctx.resting:
        return ctx.resting
    body = {"symbol": "F", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}
    response = await ctx.client.post("/api/staging/orders", json=body, headers=ctx.api)
    return str(response.json()["id"])


async def _own_token(ctx: Ctx) -> str:
    engine = create_engine(ctx.made["db"], application_name="test", pool_size=1)
    async with session_factory(engine)() as session, session.begin():
        created = await tokens.create(
            session, user_name=ctx.made["user"], name="sample", expires_days=None, environments=("staging", "prod")
        )
    await engine.dispose()
    return created.token_id


async def _web_cancel(ctx: Ctx) -> httpx.Response:
    return await ctx.client.post(f"/staging/orders/{await _resting(ctx)}/cancel", data=ctx.web())


async def _api_cancel(ctx: Ctx) -> httpx.Response:
    return await ctx.client.delete(f"/api/staging/orders/{await _resting(ctx)}", headers=ctx.api)


async def _token_revoke(ctx: Ctx) -> httpx.Response:
    return await ctx.client.post(f"/tokens/{await _own_token(ctx)}/revoke", data={"csrf_token": ctx.csrf})


def _order(ctx: Ctx) -> dict[str, str]:
    return order_form(ctx.csrf, "staging", client_order_id=uuid.uuid4().hex)


#: (method, route path) -> (expected action, environment, sample request)
SAMPLES: dict[tuple[str, str], tuple[str, str | None, Sample]] = {
    ("POST", "/{env}/orders"): ("order.place", "staging", lambda c: c.client.post("/staging/orders", data=_order(c))),
    ("POST", "/{env}/orders/{order_id}/cancel"): ("order.cancel", "staging", _web_cancel),
    ("POST", "/{env}/orders/cancel-all"): (
        "order.cancel_all",
        "staging",
        lambda c: c.client.post("/staging/orders/cancel-all", data=c.web()),
    ),
    ("POST", "/{env}/trading/halt"): (
        "trading.halt",
        "staging",
        lambda c: c.client.post("/staging/trading/halt", data=c.web(reason="route walk")),
    ),
    ("POST", "/{env}/trading/resume"): (
        "trading.resume",
        "staging",
        lambda c: c.client.post("/staging/trading/resume", data=c.web()),
    ),
    ("POST", "/{env}/users/role"): (
        "user.role.change",
        "staging",
        lambda c: c.client.post("/staging/users/role", data=c.web(user="victor", role="viewer")),
    ),
    ("POST", "/tokens"): (
        "token.create",
        "staging",  # the token's environment: the registry's default when the form names none
        lambda c: c.client.post("/tokens", data={"csrf_token": c.csrf, "name": "walk"}),
    ),
    # A token of several environments is recorded console-wide (tokens.audit_environment).
    ("POST", "/tokens/{token_id}/revoke"): ("token.revoke", None, _token_revoke),
    ("POST", "/api/{env}/orders"): (
        "order.place",
        "staging",
        lambda c: c.client.post(
            "/api/staging/orders", json={"symbol": "F", "side": "buy", "type": "market", "quantity": "1"}, headers=c.api
        ),
    ),
    ("DELETE", "/api/{env}/orders/{order_id}"): ("order.cancel", "staging", _api_cancel),
    ("DELETE", "/api/{env}/orders"): (
        "order.cancel_all",
        "staging",
        lambda c: c.client.delete("/api/staging/orders", headers=c.api),
    ),
    ("POST", "/api/{env}/trading/halt"): (
        "trading.halt",
        "staging",
        lambda c: c.client.post("/api/staging/trading/halt", json={"reason": "route walk"}, headers=c.api),
    ),
    ("POST", "/api/{env}/trading/resume"): (
        "trading.resume",
        "staging",
        lambda c: c.client.post("/api/staging/trading/resume", headers=c.api),
    ),
}


def mutating_routes() -> set[tuple[str, str]]:
    """Every (method, path) that can change something, from the routers the app is built from."""
    return {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods & MUTATING
    }


def test_every_mutating_route_has_a_recorded_sample() -> None:
    routes = mutating_routes() - EVENT_ROUTES - GATE_ROUTES
    assert mutating_routes() >= EVENT_ROUTES | GATE_ROUTES
    assert routes - set(SAMPLES) == set(), (
        "a mutating route without a sample here: add one, and route it through perform"
    )
    assert set(SAMPLES) - routes == set(), "a sample for a route that no longer exists"


async def _ctx(client: httpx.AsyncClient, db: ProvisionedDatabase, user: str) -> Ctx:
    csrf = await signed_in(client, user)
    engine = create_engine(db.runtime_url, application_name="test", pool_size=1)
    async with session_factory(engine)() as session, session.begin():
        created = await tokens.create(
            session, user_name=user, name="walker", expires_days=None, environments=("staging", "prod")
        )
    await engine.dispose()
    return Ctx(client, csrf, created.plaintext, {"db": db.runtime_url, "user": user})


async def test_each_mutating_route_records_attempt_and_outcome(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    ctx = await _ctx(console, console_db, "alice")
    for key, (action, environment, sample) in sorted(SAMPLES.items()):
        head = audit_head(console_db)
        response = await sample(ctx)
        assert response.status_code < 400, (key, response.text)
        events = [
            e for e in audit_events(console_db, since_seq=head) if e["request_id"] == response.headers["x-request-id"]
        ]
        assert [(e["action"], e["phase"]) for e in events] == [(action, "attempt"), (action, "outcome")], key
        attempt, outcome = events
        assert outcome["attempt_id"] == attempt["event_id"], key
        assert (attempt["environment"], outcome["outcome"]) == (environment, "ok"), key
        assert outcome["actor_name"] == "alice", key
        assert outcome["params"]["action"] == action, key  # perform() ran inside the route's record
        assert outcome["params"]["target"], key
        if action == "order.place":
            assert outcome["params"]["order_id"]
            assert outcome["http_status"] in (200, 201)  # Raptor's answer
        if action == "trading.halt":
            await ctx.client.post("/api/staging/trading/resume", headers=ctx.api)


async def test_each_mutating_route_records_a_denial_without_the_role(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    admin = await _ctx(console, console_db, "alice")
    resting = await _resting(admin)  # a real target for the forged cancels
    await console.post("/logout", data={"csrf_token": admin.csrf})
    viewer = await _ctx(console, console_db, "victor")
    viewer.resting = resting
    before = raptor_orders(raptors["staging"])
    for key, (action, _environment, sample) in sorted(SAMPLES.items()):
        if ACTIONS[action].capability == "self":
            continue  # the operator's own tokens: no role is needed
        head = audit_head(console_db)
        response = await sample(viewer)
        assert response.status_code == 403, (key, response.text)
        events = audit_events(console_db, since_seq=head)
        assert [(e["action"], e["phase"]) for e in events] == [(action, "attempt"), (action, "outcome")], key
        assert (events[1]["outcome"], events[1]["http_status"], events[1]["environment"]) == ("denied", 403, "staging")
        assert events[1]["actor_name"] == "victor", key
    assert raptor_orders(raptors["staging"]) == before
