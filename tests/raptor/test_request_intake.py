"""What Raptor refuses before acting on a request, the same at both doors (the order fast
path and the routed endpoints): query parameters a route does not take, a body from a caller
without a valid token (401 before a byte of it is read), a body over the limit (413), a body
not sent as JSON (415) or not JSON (400), amounts not written as plain ASCII decimals, a
body on resume. Each case runs against the real app and against the same app without its
fast paths, and a refused request leaves the books as they were."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app
from tests.fixtures.apps import asgi_client, raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, auth, issue, order_body, pin

LIMIT = 65536


@pytest.fixture(params=["fast", "routed"])
async def door(request: pytest.FixtureRequest, raptor_db: ProvisionedDatabase) -> AsyncIterator[httpx.AsyncClient]:
    """A staging Raptor with its fast paths, or without them (every request routed), as alice with trade+admin."""
    app = create_app(raptor_settings(raptor_db, "staging", **QUIET))
    if request.param == "routed":
        app.fast_paths = ()  # type: ignore[attr-defined]
    async with asgi_client(app) as client:
        client.headers.update(auth(issue(raptor_db, "staging", "trade", "admin")))
        yield client


def _refused(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert "detail" in body
    return body  # type: ignore[no-any-return]


async def _orders(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed = await client.get("/v1/orders")
    assert listed.status_code == 200, listed.text
    return listed.json()["orders"]  # type: ignore[no-any-return]


# -- 1. query parameters a route does not declare ----------------------------------


async def test_cancel_all_with_a_filter_it_does_not_take_cancels_nothing(door: httpx.AsyncClient) -> None:
    await pin(door, "MSFT", "100")
    resting = await door.post("/v1/orders", json=order_body(symbol="MSFT", type="limit", limit_price="1"))
    assert resting.status_code == 201, resting.text
    body = _refused(await door.delete("/v1/orders", params={"symbol": "AAPL"}), 422, "validation_error")
    assert [d["field"] for d in body["detail"]] == ["symbol"]
    assert [o["status"] for o in await _orders(door)] == ["new"]


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/v1/orders", {"foo": "bar"}),
        ("GET", "/v1/orders", {"stauts": "new"}),
        ("GET", "/v1/orders", {"limit": "5", "foo": "bar"}),
        ("GET", "/v1/orders/summary", {"day": "1"}),
        ("GET", "/v1/positions", {"symbol": "AAPL"}),
        ("GET", "/v1/trading", {"x": "1"}),
        ("GET", "/healthz", {"x": "1"}),
        ("POST", "/v1/orders", {"dry_run": "1"}),
        ("POST", "/v1/trading/resume", {"force": "1"}),
    ],
)
async def test_an_unknown_query_parameter_is_named_in_a_422(
    door: httpx.AsyncClient, method: str, path: str, params: dict[str, str]
) -> None:
    kwargs: dict[str, Any] = {"json": order_body()} if path == "/v1/orders" and method == "POST" else {}
    body = _refused(await door.request(method, path, params=params, **kwargs), 422, "validation_error")
    unknown = [name for name in params if name != "limit"]
    assert [d["field"] for d in body["detail"]] == unknown
    assert await _orders(door) == []


async def test_a_one_valued_query_parameter_given_twice_is_named_in_a_422(door: httpx.AsyncClient) -> None:
    """``limit=1&limit=3`` used to take the last: which one a caller meant is not Raptor's guess."""
    body = _refused(await door.get("/v1/orders", params=[("limit", "1"), ("limit", "3")]), 422, "validation_error")
    assert body["detail"] == [{"field": "limit", "message": "given more than once; it takes one value"}]
    twice = await door.get("/v1/orders", params=[("symbol", "AAPL"), ("symbol", "MSFT")])
    assert [d["field"] for d in _refused(twice, 422, "validation_error")["detail"]] == ["symbol"]


async def test_a_key_given_twice_in_the_body_is_named_in_a_422_and_nothing_is_placed(door: httpx.AsyncClient) -> None:
    """``"quantity": "1", "quantity": "1000000"`` placed the last: the one read is not Raptor's guess."""
    body = b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1","quantity":"1000000"}'
    twice = await door.post("/v1/orders", content=body, headers={"Content-Type": "application/json"})
    assert _refused(twice, 422, "validation_error")["detail"] == [
        {
            "field": "quantity",
            "message": "given more than once in the body; send it once (which one counts is not guessed)",
        }
    ]
    nested = b'{"reason": "drill", "x": {"a": 1, "a": 2}}'
    halted = await door.post("/v1/trading/halt", content=nested, headers={"Content-Type": "application/json"})
    assert [d["field"] for d in _refused(halted, 422, "validation_error")["detail"]] == ["a"]
    assert await _orders(door) == []
    assert (await door.get("/v1/trading")).json()["halted"] is False


async def test_declared_query_parameters_still_work(door: httpx.AsyncClient) -> None:
    assert (await door.get("/v1/orders", params={"limit": "5"})).status_code == 200
    assert (await door.get("/v1/orders", params=[("status", "new"), ("status", "filled")])).status_code == 200
    assert (await door.get("/v1/orders", params={"symbol": "AAPL", "side": "buy"})).status_code == 200


# -- 2. the token before the body, and the body's size ------------------------------


class Chunks:
    """A request body streamed in chunks, counting how many the app asked for."""

    def __init__(self, count: int, size: int = 16384) -> None:
        self.count, self.size, self.read = count, size, 0

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.read += 1
            yield b" " * self.size


async def test_an_unauthenticated_body_is_refused_before_a_byte_is_read(door: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer rxp_staging_nope"}):
        body = Chunks(1000)  # 16 MB, were it read
        sent = await door.post("/v1/orders", content=body, headers={**headers, "Content-Type": "application/json"})
        assert sent.status_code == 401, sent.text
        assert body.read <= 1  # httpx may start the stream; the app asked for nothing
    assert await _orders(door) == []


async def test_a_body_over_the_limit_is_refused_413_without_being_read_whole(door: httpx.AsyncClient) -> None:
    streamed = Chunks(1000)
    chunked = await door.post("/v1/orders", content=streamed, headers={"Content-Type": "application/json"})
    body = _refused(chunked, 413, "body_too_large")
    assert body["max_bytes"] == LIMIT
    assert streamed.read <= LIMIT // streamed.size + 2
    declared = await door.post(
        "/v1/orders", content=b"{" + b" " * LIMIT + b"}", headers={"Content-Type": "application/json"}
    )
    _refused(declared, 413, "body_too_large")
    assert await _orders(door) == []


async def test_a_body_at_the_limit_is_read(door: httpx.AsyncClient) -> None:
    text = json.dumps(order_body()).encode()
    padded = text[:-1] + b" " * (LIMIT - len(text)) + b"}"
    assert len(padded) == LIMIT
    placed = await door.post("/v1/orders", content=padded, headers={"Content-Type": "application/json"})
    assert placed.status_code == 201, placed.text


# -- 3. authentication (and its metric) before the body --------------------------------


async def test_a_malformed_body_with_another_environments_token_is_wrong_environment(
    test_databases: DatabaseFactory,
) -> None:
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    staging_token = issue(staging_db, "staging", "trade")
    app = create_app(raptor_settings(prod_db, "prod", **QUIET))
    async with asgi_client(app) as prod:
        answers = [
            await prod.post("/v1/orders", content=b"{bad", headers={**auth(staging_token), **ct}) for ct in _TYPES
        ]
        counted = dict(app.state.raptor.tokens.wrong_environment)
    assert [(a.status_code, a.json()["error"]) for a in answers] == [(401, "wrong_environment")] * len(_TYPES)
    assert counted == {"staging": len(_TYPES)}


_TYPES = ({"Content-Type": "application/json"}, {"Content-Type": "text/plain"}, {})


# -- 4. a body that is not JSON: one answer ------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"symbol":', b"{bad", b'{"symbol": "\xff"}', b"[" * 30_000 + b"]" * 30_000, b"garbage"],
    ids=["truncated", "bad-syntax", "not-utf8", "deep", "word"],
)
async def test_a_body_that_is_not_json_is_400_invalid_json(door: httpx.AsyncClient, raw: bytes) -> None:
    for path in ("/v1/orders", "/v1/trading/halt", "/v1/paper/prices/AAPL", "/v1/trading/resume"):
        method = "PUT" if path.startswith("/v1/paper") else "POST"
        sent = await door.request(method, path, content=raw, headers={"Content-Type": "application/json"})
        _refused(sent, 400, "invalid_json")
    assert await _orders(door) == []
    assert (await door.get("/v1/trading")).json()["halted"] is False


async def test_json_nested_deeper_than_the_limit_allows_is_413(door: httpx.AsyncClient) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    _refused(
        await door.post("/v1/orders", content=deep, headers={"Content-Type": "application/json"}), 413, "body_too_large"
    )


@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"],
)
async def test_a_body_not_sent_as_json_is_415(door: httpx.AsyncClient, content_type: str) -> None:
    sent = await door.post("/v1/orders", content=json.dumps(order_body()), headers={"Content-Type": content_type})
    _refused(sent, 415, "unsupported_media_type")
    assert await _orders(door) == []


async def test_json_media_types_compare_without_case_or_parameters(door: httpx.AsyncClient) -> None:
    for content_type in ("Application/JSON; charset=utf-8", "application/vnd.raxx+json"):
        sent = await door.post("/v1/orders", content=json.dumps(order_body()), headers={"Content-Type": content_type})
        assert sent.status_code == 201, (content_type, sent.text)


# -- 5. amounts: plain ASCII decimals ----------------------------------------------


@pytest.mark.parametrize("amount", ["\u0665", "5_000", " 5 ", "5\n", "1e3", "+5", "\uff15", "0x10", "5."])
async def test_an_amount_in_any_but_the_plain_form_is_refused(door: httpx.AsyncClient, amount: str) -> None:
    for body in (order_body(quantity=amount), order_body(type="limit", limit_price=amount)):
        field = "quantity" if body["quantity"] == amount else "limit_price"
        refused = _refused(await door.post("/v1/orders", json=body), 422, "validation_error")
        assert field in [d["field"] for d in refused["detail"]]
    _refused(await door.put("/v1/paper/prices/AAPL", json={"price": amount}), 422, "validation_error")
    assert await _orders(door) == []


async def test_plain_amounts_and_json_numbers_are_read(door: httpx.AsyncClient) -> None:
    for quantity in ("5", "0.5", "10.25000000", 3):
        placed = await door.post("/v1/orders", json=order_body(quantity=quantity))
        assert placed.status_code == 201, (quantity, placed.text)


# -- 6. resume takes no body; times end in Z ----------------------------------------


async def test_resume_takes_no_body_or_an_empty_object(door: httpx.AsyncClient) -> None:
    assert (await door.post("/v1/trading/halt", json={"reason": "drill"})).status_code == 200
    json_type = {"Content-Type": "application/json"}
    _refused(await door.post("/v1/trading/resume", content=b"garbage", headers=json_type), 400, "invalid_json")
    _refused(await door.post("/v1/trading/resume", content=b"garbage"), 415, "unsupported_media_type")
    _refused(await door.post("/v1/trading/resume", json={"foo": 1}), 422, "validation_error")
    _refused(await door.post("/v1/trading/resume", json=[]), 422, "validation_error")
    assert (await door.get("/v1/trading")).json()["halted"] is True
    assert (await door.post("/v1/trading/resume")).status_code == 200
    assert (await door.post("/v1/trading/resume", json={})).status_code == 200
    assert (await door.get("/v1/trading")).json()["halted"] is False


async def test_the_halted_refusal_writes_its_time_as_every_other(door: httpx.AsyncClient) -> None:
    halted = await door.post("/v1/trading/halt", json={"reason": "drill"})
    refused = _refused(await door.post("/v1/orders", json=order_body()), 409, "trading_halted")
    assert refused["halted_at"] == halted.json()["changed_at"]
    assert refused["halted_at"].endswith("Z")


# -- 6. headers that may appear once -------------------------------------------------


@pytest.mark.parametrize(
    ("header", "method"),
    [
        ("X-Raxx-Actor", "POST"),
        ("X-Raxx-Actor", "DELETE"),
        ("Authorization", "GET"),
        ("X-Request-ID", "DELETE"),
        ("Content-Type", "POST"),
    ],
)
async def test_a_header_that_may_appear_once_is_refused_when_repeated(
    door: httpx.AsyncClient, header: str, method: str
) -> None:
    """Which of two actors, tokens or request ids counts is not Raptor's to guess (the first
    was recorded): refused before anything is read or done, whatever the request."""
    await pin(door, "MSFT", "100")
    resting = await door.post("/v1/orders", json=order_body(symbol="MSFT", type="limit", limit_price="1"))
    assert resting.status_code == 201, resting.text
    first = door.headers[header] if header == "Authorization" else "application/json"
    values = {
        "X-Raxx-Actor": ["alice", "mallory"],
        "Authorization": [first, "Bearer rxp_staging_nobody_secret"],
        "X-Request-ID": ["req-one", "req-two"],
        "Content-Type": [first, "text/plain"],
    }[header]
    headers = [(name, value) for name, value in door.headers.items() if name.lower() != header.lower()]
    headers += [(header, value) for value in values]
    body = json.dumps(order_body(symbol="MSFT")).encode() if method == "POST" else None
    if method == "POST" and header != "Content-Type":
        headers.append(("Content-Type", "application/json"))
    answer = await door.send(door.build_request(method, "/v1/orders", headers=headers, content=body))
    refused = _refused(answer, 400, "repeated_header")
    assert refused["header"] == header.lower()
    assert [(o["id"], o["status"]) for o in await _orders(door)] == [(resting.json()["id"], "new")]
