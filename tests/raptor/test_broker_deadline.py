"""A request waits on a remote broker no longer than ``RAPTOR_BROKER_DEADLINE_S`` in all.

Each Alpaca call has its own timeouts, but a request can make several (a submission's
look-up after an unclear answer and its retries, ``DELETE /v1/orders`` over every open
order): their sum passed Heroku's router's 30 s, and the caller got the router's 503 page
instead of Raptor's answer. Here a venue slow on every call is cut at the request's
deadline, and what was cut says what is known.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient
from raxx.raptor.broker.base import BrokerUnavailable, OrderIntent
from raxx.raptor.broker.deadline import request_deadline, within_deadline
from tests.fixtures.fake_alpaca import FakeAlpaca
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.raptor import order_body, trading_client
from tests.fixtures.servers import serve

pytestmark = LOOPBACK_ONLY

PAPER = "https://paper-api.alpaca.markets"
INTENT = OrderIntent(
    client_order_id="c-slow",
    symbol="AAPL",
    side="buy",
    type="market",
    time_in_force="day",
    quantity=Decimal(1),
)


async def no_wait(_: float) -> None:
    return None


def slow_venue(seconds: float, seen: list[str]) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    """Alpaca when every answer takes ``seconds``: the submission times out (it may have
    arrived), every look-up of it answers 503 (so it is retried)."""

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        await asyncio.sleep(seconds)
        if request.method == "POST":
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(503, json={"code": 50300000, "message": "busy"})

    return handle


@pytest.fixture
async def slow_broker() -> AsyncIterator[tuple[AlpacaBroker, list[str]]]:
    seen: list[str] = []
    transport = httpx.MockTransport(slow_venue(0.3, seen))
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, transport=transport, sleep=no_wait)
    yield AlpacaBroker(client), seen
    await client.aclose()


async def test_without_a_deadline_every_look_up_is_made(slow_broker: tuple[AlpacaBroker, list[str]]) -> None:
    """The baseline the deadline cuts short: one submission, then three tries at the look-up."""
    broker, seen = slow_broker
    with pytest.raises(BrokerUnavailable, match="whether order c-slow reached Alpaca is not known yet") as caught:
        await broker.submit(INTENT)
    assert "within the request" not in caught.value.reason
    assert seen == ["POST /v2/orders"] + ["GET /v2/orders:by_client_order_id"] * 3


async def test_a_submission_is_cut_at_the_requests_deadline_and_says_it_may_have_arrived(
    slow_broker: tuple[AlpacaBroker, list[str]],
) -> None:
    broker, seen = slow_broker
    with (
        request_deadline(0.5),
        pytest.raises(BrokerUnavailable, match="whether order c-slow reached Alpaca is not known yet") as caught,
    ):
        await broker.submit(INTENT)
    assert "did not answer within the request's 0.5 s" in caught.value.reason
    assert seen == ["POST /v2/orders", "GET /v2/orders:by_client_order_id"]  # the look-up was cut


async def test_a_call_with_no_time_left_is_not_sent(slow_broker: tuple[AlpacaBroker, list[str]]) -> None:
    broker, seen = slow_broker
    with request_deadline(0.0), pytest.raises(BrokerUnavailable, match="ran out before this call") as caught:
        await broker.cancel("61e69015-8549-4bfd-b9c3-01e75843f47d")
    assert caught.value.reason.endswith("the cancel was not sent")
    assert seen == []


async def test_cancel_all_answers_by_the_deadline_and_names_what_it_did_not_send(
    raptor_db: ProvisionedDatabase,
) -> None:
    """Five open orders, each cancel answered after 0.4 s (each within one call's timeout):
    without a deadline the request takes 2 s and more; with 1 s, the orders it had no time
    for are listed as not canceled, their cancels never sent, and they stay open."""
    venue = FakeAlpaca()
    with serve(venue.app()) as server:
        config: dict[str, Any] = {
            "broker": "alpaca",
            "alpaca_base_url": server.url,
            "alpaca_api_key_id": venue.key_id,
            "alpaca_api_secret_key": venue.secret_key,
            "alpaca_timeout_s": 0.6,
            "alpaca_connect_timeout_s": 0.3,
            "broker_deadline_s": 1.0,
        }
        async with trading_client(raptor_db, "staging", **config) as client:
            for n in range(5):  # a buy limit far under the price: open until canceled
                body = order_body(type="limit", limit_price="1", client_order_id=f"rest-{n}")
                placed = await client.post("/v1/orders", json=body)
                assert placed.status_code == 201, placed.text
            venue.stall_cancels_s = 0.4
            answer = await client.delete("/v1/orders")
            listed = (await client.get("/v1/orders")).json()["orders"]
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert len(result["canceled"]) + len(result["failed"]) == 5
    assert result["failed"], "every cancel was made: the deadline did not cut the request"
    assert {failure["error"] for failure in result["failed"]} == {"broker_unavailable"}
    unsent = [failure for failure in result["failed"] if "the cancel was not sent" in failure["detail"]]
    assert unsent, result["failed"]
    assert all("the request's 1 s" in failure["detail"] for failure in result["failed"])
    assert venue.cancels == 5 - len(unsent)  # those never reached the venue
    status = {order["id"]: order["status"] for order in listed}
    assert {status[failure["order_id"]] for failure in unsent} <= {"new", "partially_filled"}


async def test_a_timeout_of_the_calls_own_is_not_taken_for_the_deadline() -> None:
    with request_deadline(5.0), pytest.raises(TimeoutError, match="its own"):
        async with within_deadline(cut="cut", not_sent="not sent"):
            raise TimeoutError("its own")
