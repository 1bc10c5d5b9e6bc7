"""The order fast path (``raxx.raptor.order.fast``) answers exactly as the routed endpoints.

Two apps share one database: the real one (fast path in front) and the same app with the
fast path taken out, so every request here reaches the routed endpoint. Each case sends the
same request to both and compares status, headers and body (ids and times that are new
per order are set aside). A spy on what the fast path hands on says which of the two
answered in the real app: the plain happy cases and the refusals past the token check
(halted, replays, buying power) must be served by the fast path itself; everything else
must be handed to the routed endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.logging import JsonFormatter
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app
from raxx.raptor.order.fast import OrderFastPath
from tests.fixtures.apps import asgi_client, raptor_settings
from tests.fixtures.raptor import QUIET, auth, issue, order_body, pin

#: Fields that differ between two orders placed the same way.
PER_ORDER = ("id", "client_order_id", "created_at", "updated_at", "filled_at", "broker_order_id", "fills")


class HandedOn:
    """Counts the requests the fast path passes to the routed app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


@dataclass
class Pair:
    fast: httpx.AsyncClient
    routed: httpx.AsyncClient
    handed_on: Callable[[], HandedOn]
    reached: Callable[[], HandedOn]

    async def both(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response, bool]:
        """The same request (with one request id) to both apps; whether the fast path answered it itself."""
        kwargs["headers"] = {"X-Request-ID": "req-both", **kwargs.get("headers", {})}
        reached, before = self.reached().count, self.handed_on().count
        fast = await self.fast.request(method, path, **kwargs)
        # Served by the fast path: it got the request (the entrance, ``raptor.intake``, in
        # front of both doors, answers a body without a valid token) and kept it.
        served = self.reached().count > reached and self.handed_on().count == before
        routed = await self.routed.request(method, path, **kwargs)
        return fast, routed, served


def _spy(app: Any) -> HandedOn:
    """Put a ``HandedOn`` behind the fast path of a started app's middleware stack."""
    layer = app.middleware_stack
    while not isinstance(layer, OrderFastPath):
        layer = layer.app
    if not isinstance(layer.app, HandedOn):
        layer.app = HandedOn(layer.app)
    return layer.app


def _spy_in_front(app: Any) -> HandedOn:
    """Put a ``HandedOn`` in front of the fast path: what reached it."""
    parent = app.middleware_stack
    while not isinstance(parent.app, (OrderFastPath, HandedOn)):
        parent = parent.app
    if not isinstance(parent.app, HandedOn):
        parent.app = HandedOn(parent.app)
    return parent.app  # type: ignore[no-any-return]


@pytest.fixture
async def pair(raptor_db: ProvisionedDatabase) -> AsyncIterator[Pair]:
    fast_app = create_app(raptor_settings(raptor_db, "staging", **QUIET))
    routed_app = create_app(raptor_settings(raptor_db, "staging", **QUIET))
    routed_app.fast_paths = ()  # type: ignore[attr-defined]
    async with AsyncExitStack() as stack:
        fast = await stack.enter_async_context(asgi_client(fast_app))
        routed = await stack.enter_async_context(asgi_client(routed_app))
        await fast.get("/healthz")  # builds the middleware stack the spy goes into
        yield Pair(fast=fast, routed=routed, handed_on=lambda: _spy(fast_app), reached=lambda: _spy_in_front(fast_app))


async def _pin_aapl(pair: Pair, raptor_db: ProvisionedDatabase) -> None:
    """Both apps fill at one price, whatever the clock says between their two requests."""
    pair.routed.headers.update(auth(issue(raptor_db, "staging", "admin")))
    await pin(pair.routed, "AAPL", "150.25")
    del pair.routed.headers["Authorization"]


def _headers(response: httpx.Response, *, with_length: bool = True) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if with_length or k != "content-length"]


def _same_order(fast: httpx.Response, routed: httpx.Response) -> None:
    """Two orders placed the same way: equal but for what is new per order."""
    a, b = fast.json(), routed.json()
    assert set(a) == set(b)
    assert {k: v for k, v in a.items() if k not in PER_ORDER} == {k: v for k, v in b.items() if k not in PER_ORDER}
    assert [{k: v for k, v in f.items() if k != "at"} for f in a["fills"]] == [
        {k: v for k, v in f.items() if k != "at"} for f in b["fills"]
    ]
    assert fast.status_code == routed.status_code
    assert _headers(fast, with_length=False) == _headers(routed, with_length=False)


def _identical(fast: httpx.Response, routed: httpx.Response) -> None:
    assert (fast.status_code, fast.content) == (routed.status_code, routed.content)
    assert _headers(fast) == _headers(routed)


async def test_a_plain_submission_is_served_as_the_routed_endpoint_places_it(
    pair: Pair, raptor_db: ProvisionedDatabase
) -> None:
    token = issue(raptor_db, "staging", "trade")
    await _pin_aapl(pair, raptor_db)
    for body in (
        order_body(quantity="3"),
        order_body(quantity="0.5", time_in_force="gtc"),
        order_body(type="limit", limit_price="1.0000", quantity="2"),  # rests: no fill
        order_body(side="sell", quantity="1"),
    ):
        headers = auth(token, actor="alice", request_id="req-same")
        fast, routed, served = await pair.both("POST", "/v1/orders", json=body, headers=headers)
        assert served, body
        assert fast.status_code == 201, fast.text
        _same_order(fast, routed)
        assert fast.headers["x-request-id"] == "req-same"
        assert fast.json()["actor"] == "alice"
        assert fast.json()["request_id"] == "req-same"


async def test_the_recorded_order_names_the_token_and_the_actor(pair: Pair, raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "trade")
    placed = await pair.fast.post("/v1/orders", json=order_body(), headers=auth(token, actor="bob (console)"))
    again = await pair.routed.get(f"/v1/orders/{placed.json()['id']}", headers=auth(token))
    assert placed.status_code == 201
    assert again.json() == placed.json()
    assert placed.json()["token_id"] == token.split("_")[2]
    assert placed.json()["actor"] == "bob (console)"


async def test_replays_and_conflicts_answer_as_the_routed_endpoint(pair: Pair, raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "trade")
    headers = auth(token)
    for client in (pair.fast, pair.routed):
        first = await client.post("/v1/orders", json=order_body(client_order_id="replay-1"), headers=headers)
        assert first.status_code in (200, 201)
    original = await pair.routed.get("/v1/orders", params={"limit": 1}, headers=headers)

    fast, routed, served = await pair.both(
        "POST", "/v1/orders", json=order_body(client_order_id="replay-1"), headers=headers
    )
    assert served
    assert fast.status_code == 200
    _identical(fast, routed)
    assert fast.json() == original.json()["orders"][0]

    fast, routed, served = await pair.both(
        "POST", "/v1/orders", json=order_body(client_order_id="replay-1", quantity="11"), headers=headers
    )
    assert served
    assert fast.status_code == 409
    assert fast.json()["error"] == "idempotency_conflict"
    _identical(fast, routed)


async def test_halted_trading_refuses_as_the_routed_endpoint(pair: Pair, raptor_db: ProvisionedDatabase) -> None:
    admin = issue(raptor_db, "staging", "trade", "admin")
    halted = await pair.routed.post("/v1/trading/halt", json={"reason": "fat finger"}, headers=auth(admin))
    assert halted.status_code == 200, halted.text
    fast, routed, served = await pair.both("POST", "/v1/orders", json=order_body(), headers=auth(admin))
    assert served
    assert fast.status_code == 409
    assert fast.json()["error"] == "trading_halted"
    _identical(fast, routed)


async def test_a_buy_beyond_buying_power_is_rejected_as_by_the_routed_endpoint(
    pair: Pair, raptor_db: ProvisionedDatabase
) -> None:
    token = issue(raptor_db, "staging", "trade")
    await _pin_aapl(pair, raptor_db)
    fast, routed, served = await pair.both(
        "POST", "/v1/orders", json=order_body(quantity="100000000"), headers=auth(token)
    )
    assert served
    assert fast.status_code == 201
    assert fast.json()["status"] == "rejected"
    assert fast.json()["reject_reason"]
    _same_order(fast, routed)


@pytest.mark.parametrize(
    ("case", "body", "headers_of"),
    [
        ("no token", order_body(), lambda t: {}),
        ("not a bearer token", order_body(), lambda t: {"Authorization": f"Basic {t['trade']}"}),
        ("malformed token", order_body(), lambda t: {"Authorization": "Bearer rxp_staging_nope"}),
        ("another environment's token", order_body(), lambda t: auth(t["prod"])),
        ("a read-only token", order_body(), lambda t: auth(t["read"])),
        ("an actor with surrounding spaces", order_body(), lambda t: auth(t["trade"], actor=" alice ")),
        ("a missing field", {"symbol": "AAPL", "side": "buy", "type": "market"}, lambda t: auth(t["trade"])),
        ("an unknown field", order_body(note="x"), lambda t: auth(t["trade"])),
        ("a negative quantity", order_body(quantity="-1"), lambda t: auth(t["trade"])),
        ("a market order with a limit price", order_body(limit_price="10"), lambda t: auth(t["trade"])),
        ("a limit order without one", order_body(type="limit"), lambda t: auth(t["trade"])),
        ("a lower-case symbol", order_body(symbol="aapl"), lambda t: auth(t["trade"])),
        ("a bad client order id", order_body(client_order_id="a b"), lambda t: auth(t["trade"])),
        ("a JSON array", [order_body()], lambda t: auth(t["trade"])),
    ],
)
async def test_refusals_are_left_to_the_routed_endpoint(
    pair: Pair, raptor_db: ProvisionedDatabase, case: str, body: Any, headers_of: Callable[[dict[str, str]], Any]
) -> None:
    tokens = {
        "trade": issue(raptor_db, "staging", "trade"),
        "read": issue(raptor_db, "staging", "read"),
        "prod": issue(raptor_db, "prod", "trade"),
    }
    headers = {**headers_of(tokens), "X-Request-ID": "req-refused"}
    fast, routed, served = await pair.both("POST", "/v1/orders", json=body, headers=headers)
    assert not served, case
    assert fast.status_code in (401, 403, 422), (case, fast.text)
    _identical(fast, routed)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"symbol":"AAPL","side":"buy","type":"market","quantity":10}', "application/json"),  # a number
        (b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1"}', "application/json; charset=utf-8"),
    ],
)
async def test_valid_orders_off_the_plain_shape_are_placed_by_the_routed_endpoint(
    pair: Pair, raptor_db: ProvisionedDatabase, body: bytes, content_type: str
) -> None:
    token = issue(raptor_db, "staging", "trade")
    await _pin_aapl(pair, raptor_db)
    headers = {**auth(token), "Content-Type": content_type}
    fast, routed, served = await pair.both("POST", "/v1/orders", content=body, headers=headers)
    assert not served
    assert fast.status_code == 201
    _same_order(fast, routed)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1"', b"", b"\xff\xfe"],
)
async def test_bodies_that_are_not_json_are_left_to_the_routed_endpoint(
    pair: Pair, raptor_db: ProvisionedDatabase, content: bytes
) -> None:
    token = issue(raptor_db, "staging", "trade")
    headers = {**auth(token), "Content-Type": "application/json", "X-Request-ID": "req-bad-json"}
    fast, routed, served = await pair.both("POST", "/v1/orders", content=content, headers=headers)
    assert not served
    # Not JSON: 400 invalid_json however it fails; no body at all: the fields it lacks (422).
    assert (fast.status_code, fast.json()["error"]) == ((400, "invalid_json") if content else (422, "validation_error"))
    _identical(fast, routed)


async def test_the_list_is_served_as_the_routed_endpoint_writes_it(pair: Pair, raptor_db: ProvisionedDatabase) -> None:
    trade = issue(raptor_db, "staging", "trade")
    read = issue(raptor_db, "staging", "read")
    for quantity in ("1", "2.5", "100000000"):
        await pair.fast.post("/v1/orders", json=order_body(quantity=quantity), headers=auth(trade))
    for params in ({"limit": 100}, {"limit": 2}, {}):
        fast, routed, served = await pair.both("GET", "/v1/orders", params=params, headers=auth(read))
        assert served, params
        assert fast.status_code == 200
        _identical(fast, routed)
    assert len((await pair.fast.get("/v1/orders", params={"limit": 100}, headers=auth(read))).json()["orders"]) == 3


@pytest.mark.parametrize(
    ("params", "headers_of"),
    [
        ({"limit": 100}, lambda t: {}),
        ({"limit": 100}, lambda t: auth(t["prod"])),
        ({"limit": 0}, lambda t: auth(t["read"])),
        ({"limit": 501}, lambda t: auth(t["read"])),
        ({"limit": 2, "status": "filled"}, lambda t: auth(t["read"])),
        ({"cursor": "nonsense"}, lambda t: auth(t["read"])),
        ({"side": "buy"}, lambda t: auth(t["read"])),
        ({"limit": 2, "client_order_id": "x-1"}, lambda t: auth(t["read"])),
        ({"id": "0190"}, lambda t: auth(t["read"])),
        ({"id": "not-hex!"}, lambda t: auth(t["read"])),
    ],
)
async def test_list_requests_off_the_plain_shape_are_left_to_the_routed_endpoint(
    pair: Pair, raptor_db: ProvisionedDatabase, params: dict[str, Any], headers_of: Callable[[dict[str, str]], Any]
) -> None:
    tokens = {"read": issue(raptor_db, "staging", "read"), "prod": issue(raptor_db, "prod", "read")}
    fast, routed, served = await pair.both("GET", "/v1/orders", params=params, headers=headers_of(tokens))
    assert not served, params
    _identical(fast, routed)


async def test_a_served_order_logs_its_environment_request_id_and_actor(
    pair: Pair, raptor_db: ProvisionedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="raxx.raptor")
    token = issue(raptor_db, "staging", "trade")
    before = pair.handed_on().count
    placed = await pair.fast.post("/v1/orders", json=order_body(), headers=auth(token, "erin", "log-fast-1"))
    assert pair.handed_on().count == before  # served by the fast path
    records = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "order.submit.ok"]
    assert [(r["environment"], r["request_id"], r["actor"], r["order_id"]) for r in records] == [
        ("staging", "log-fast-1", "erin", placed.json()["id"])
    ]
    assert records[0]["token_id"] == placed.json()["token_id"]
