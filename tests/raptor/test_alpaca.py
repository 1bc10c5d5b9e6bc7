"""The Alpaca adapter's own promises: paper only, explicit timeouts, client order ids and
reconciliation after unclear failures, decimals, error mapping. Alpaca is a local fake
server (multi-call conversations) or respx at the transport (exact wire shapes)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from raxx.common.errors import ConfigError
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient, AlpacaHTTPError
from raxx.raptor.broker.base import BrokerOrderNotFound, BrokerRejected, BrokerUnavailable, OrderIntent
from raxx.raptor.broker.budget import BudgetRate, SharedBudget
from raxx.raptor.broker.factory import alpaca_broker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import DriverPool
from tests.fixtures.fake_alpaca import FakeAlpaca
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.raptor import driver_pool, order_body, trading_client
from tests.fixtures.servers import ThreadedServer, serve

pytestmark = LOOPBACK_ONLY

PAPER = "https://paper-api.alpaca.markets"


def intent(cid: str = "c-1", **overrides: Any) -> OrderIntent:
    values: dict[str, Any] = {
        "client_order_id": cid,
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "quantity": Decimal("10.5"),
        "limit_price": Decimal("123.4500"),
    }
    values.update(overrides)
    return OrderIntent(**values)


def settings(**overrides: Any) -> RaptorSettings:
    values: dict[str, Any] = {
        "environment": "prod",
        "database_url": "postgresql://u@127.0.0.1/db",
        "broker": "alpaca",
        "alpaca_api_key_id": "PKKEY",
        "alpaca_api_secret_key": "alpaca-secret-for-settings",
    }
    values.update(overrides)
    return RaptorSettings(**values)


def unopened_pool() -> DriverPool:
    """A driver pool that never connects: enough to build a broker without using it."""
    return AsyncConnectionPool("postgresql://u@127.0.0.1/db", open=False)


@pytest.fixture
def fake() -> Iterator[tuple[FakeAlpaca, ThreadedServer]]:
    venue = FakeAlpaca()
    with serve(venue.app()) as server:
        yield venue, server


@pytest.fixture
async def broker(fake: tuple[FakeAlpaca, ThreadedServer]) -> AsyncIterator[AlpacaBroker]:
    venue, server = fake
    client = AlpacaClient(
        base_url=server.url,
        key_id=venue.key_id,
        secret_key=venue.secret_key,
        budget=None,
        timeout_s=0.5,
        connect_timeout_s=0.5,
    )
    adapter = AlpacaBroker(client)
    yield adapter
    await adapter.close()


# -- paper only ---------------------------------------------------------------------------


def test_the_paper_endpoint_is_the_default_and_live_needs_an_explicit_setting() -> None:
    assert settings().alpaca_base_url == PAPER
    with pytest.raises(ConfigError, match="RAPTOR_ALPACA_ALLOW_LIVE"):
        settings(alpaca_base_url="https://api.alpaca.markets")
    live = alpaca_broker(
        settings(alpaca_base_url="https://api.alpaca.markets", alpaca_allow_live=True), unopened_pool()
    )
    assert live.paper is False
    assert alpaca_broker(settings(), unopened_pool()).paper is True


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://paper-api.alpaca.markets", "must be https"), ("https://alpaca.example.com", "must be https://paper-api")],
)
def test_other_endpoints_are_refused(url: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        settings(alpaca_base_url=url)


def test_missing_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="RAPTOR_ALPACA_API_KEY_ID and RAPTOR_ALPACA_API_SECRET_KEY"):
        settings(alpaca_api_key_id=None, alpaca_api_secret_key=None)


def test_the_default_deadline_fits_one_call_and_stays_under_the_router() -> None:
    defaults = settings()
    assert defaults.alpaca_connect_timeout_s + defaults.alpaca_timeout_s <= defaults.broker_deadline_s < 30


def test_one_call_longer_than_the_deadline_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="must fit in RAPTOR_BROKER_DEADLINE_S"):
        settings(alpaca_timeout_s=20, alpaca_connect_timeout_s=3, broker_deadline_s=20)


def test_a_deadline_past_the_router_is_refused() -> None:
    with pytest.raises(ValidationError, match="broker_deadline_s"):
        settings(broker_deadline_s=29)


def test_the_sync_pass_leaves_an_order_to_its_request_until_the_requests_deadline() -> None:
    """With Alpaca a request may ask the broker for RAPTOR_BROKER_DEADLINE_S: the sync pass does
    not ask (or place) before; the paper venue answers at once and keeps the short grace."""
    assert settings(pending_grace_seconds=5, broker_deadline_s=20).pending_grace == timedelta(seconds=20)
    assert settings(pending_grace_seconds=30, broker_deadline_s=20).pending_grace == timedelta(seconds=30)
    assert settings(broker="paper", pending_grace_seconds=5).pending_grace == timedelta(seconds=5)


def test_the_secret_key_is_not_in_any_repr() -> None:
    configured = settings()
    assert "alpaca-secret-for-settings" not in repr(configured)
    assert "alpaca-secret-for-settings" not in repr(alpaca_broker(configured, unopened_pool()).client)


# -- the wire ------------------------------------------------------------------------------


def order_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": "c-1",
        "created_at": "2026-11-26T14:30:00.123456789Z",
        "updated_at": "2026-11-26T14:30:01.5Z",
        "submitted_at": "2026-11-26T14:30:00.2Z",
        "filled_at": None,
        "symbol": "AAPL",
        "qty": "10.5",
        "filled_qty": "0",
        "filled_avg_price": None,
        "type": "limit",
        "order_type": "limit",
        "side": "buy",
        "time_in_force": "gtc",
        "limit_price": "123.45",
        "status": "accepted",
    }
    body.update(overrides)
    return body


@respx.mock
async def test_a_submission_sends_strings_the_client_order_id_and_the_key_headers() -> None:
    route = respx.post(f"{PAPER}/v2/orders").mock(return_value=httpx.Response(200, json=order_json()))
    client = AlpacaClient(base_url=PAPER, key_id="PKKEY", secret_key="sk", budget=None)
    placed = await AlpacaBroker(client).submit(intent())
    await client.aclose()
    request = route.calls[0].request
    assert json.loads(request.content) == {
        "symbol": "AAPL",
        "qty": "10.5",
        "side": "buy",
        "type": "limit",
        "time_in_force": "gtc",
        "client_order_id": "c-1",
        "limit_price": "123.45",
    }
    assert (request.headers["APCA-API-KEY-ID"], request.headers["APCA-API-SECRET-KEY"]) == ("PKKEY", "sk")
    assert (placed.status, placed.quantity, placed.limit_price) == ("new", Decimal("10.5"), Decimal("123.45"))
    assert placed.created_at.microsecond == 123456  # nanoseconds cut to what Python keeps


@respx.mock
async def test_money_sent_as_json_numbers_never_passes_through_a_float() -> None:
    account = {
        "account_number": "PA1234567890",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": 100000.10,
        "buying_power": 0.1,
        "equity": 100000.30,
        "long_market_value": "0.2",
        "short_market_value": "0",
    }
    respx.get(f"{PAPER}/v2/account").mock(return_value=httpx.Response(200, text=json.dumps(account)))
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None)
    read = await AlpacaBroker(client).account()
    await client.aclose()
    assert (read.cash, read.buying_power, read.equity) == (Decimal("100000.1"), Decimal("0.1"), Decimal("100000.3"))
    assert read.positions_value == Decimal("0.2")


@pytest.mark.parametrize(
    ("alpaca_status", "filled", "ours"),
    [
        ("pending_new", "0", "new"),
        ("held", "0", "new"),
        ("partially_filled", "3", "partially_filled"),
        ("done_for_day", "3", "partially_filled"),
        ("pending_cancel", "0", "new"),
        ("filled", "10.5", "filled"),
        ("expired", "0", "canceled"),
        ("rejected", "0", "rejected"),
    ],
)
def test_alpaca_statuses_map_onto_raptors(alpaca_status: str, filled: str, ours: str) -> None:
    from raxx.raptor.broker.alpaca_wire import to_order

    order = to_order(
        order_json(status=alpaca_status, filled_qty=filled, filled_avg_price="123" if filled != "0" else None)
    )
    assert order.status == ours
    if alpaca_status == "expired":
        assert order.cancel_reason == "expired at Alpaca"


@respx.mock
async def test_a_bare_404_without_a_json_body_is_not_found_not_a_crash() -> None:
    respx.delete(f"{PAPER}/v2/orders/abc").mock(return_value=httpx.Response(404, text=""))
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None)
    with pytest.raises(BrokerOrderNotFound):
        await AlpacaBroker(client).cancel("abc")
    await client.aclose()


@respx.mock
async def test_a_rate_limited_read_waits_and_retries() -> None:
    route = respx.get(f"{PAPER}/v2/account").mock(
        side_effect=[
            httpx.Response(
                429, json={"code": 42910000, "message": "rate limit exceeded"}, headers={"Retry-After": "2"}
            ),
            httpx.Response(
                200, json={"account_number": "PA1", "status": "ACTIVE"}, headers={"X-RateLimit-Remaining": "17"}
            ),
        ]
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=sleep)
    await AlpacaBroker(client).start()
    await client.aclose()
    assert (route.call_count, client.rate_limit_remaining) == (2, 17)
    assert len(waits) == 1
    assert 2.0 <= waits[0] <= 2.25  # as told, plus a little jitter


@respx.mock
async def test_rejections_carry_raptors_codes() -> None:
    respx.post(f"{PAPER}/v2/orders").mock(
        side_effect=[
            httpx.Response(403, json={"code": 40310000, "message": "insufficient buying power"}),
            httpx.Response(422, json={"code": 40010001, "message": 'asset "ZZZZ" not found'}),
        ]
    )
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None)
    broker = AlpacaBroker(client)
    with pytest.raises(BrokerRejected) as poor:
        await broker.submit(intent("c-poor"))
    with pytest.raises(BrokerRejected) as unknown:
        await broker.submit(intent("c-unknown", symbol="ZZZZ"))
    await client.aclose()
    assert (poor.value.code, unknown.value.code) == ("insufficient_buying_power", "unknown_symbol")
    assert "insufficient buying power" in poor.value.reason


# -- rate limits and retries ---------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.ends: list[float] = []  # the wall-clock moment each wait would end

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.ends.append(time.time() + seconds)


def rate_limited(reset_in: int) -> httpx.Response:
    """Alpaca's 429: its error body and its rate-limit headers, no ``Retry-After``."""
    headers = {
        "X-RateLimit-Limit": "200",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + reset_in),
    }
    return httpx.Response(429, json={"code": 42910000, "message": "rate limit exceeded"}, headers=headers)


ACCOUNT = {"account_number": "PA1", "status": "ACTIVE"}


@respx.mock
async def test_a_429_without_retry_after_waits_until_alpacas_reset() -> None:
    limited = rate_limited(3)
    reset = float(limited.headers["X-RateLimit-Reset"])
    route = respx.get(f"{PAPER}/v2/account").mock(side_effect=[limited, httpx.Response(200, json=ACCOUNT)])
    sleeps = Sleeps()
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=sleeps)
    before = time.time()
    await AlpacaBroker(client).account()
    after = time.time()
    await client.aclose()
    assert route.call_count == 2
    assert len(sleeps.waits) == 1
    # The wait is the reset (whole seconds) less the clock when the 429 was read, which lies
    # between before and after, plus up to 0.25 s of jitter: exact bounds, which a slow
    # machine cannot shift (CI's 3.13 once read the 429 11 ms after a "2.0 at least").
    assert reset - after <= sleeps.waits[0] <= reset - before + 0.25
    assert sleeps.waits[0] > 1.0  # and it is a real wait, not the backoff's fraction of a second


@respx.mock
async def test_a_429_asking_for_longer_than_a_request_may_wait_is_not_waited_out() -> None:
    route = respx.get(f"{PAPER}/v2/account").mock(return_value=rate_limited(45))
    sleeps = Sleeps()
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=sleeps)
    with pytest.raises(BrokerUnavailable, match="rate limit was reached"):
        await AlpacaBroker(client).account()
    await client.aclose()
    assert (route.call_count, sleeps.waits) == (1, [])


@respx.mock
async def test_reads_are_retried_with_jittered_exponential_backoff() -> None:
    route = respx.get(f"{PAPER}/v2/positions").mock(
        side_effect=[httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200, json=[])]
    )
    sleeps = Sleeps()
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=sleeps)
    assert await AlpacaBroker(client).positions() == []
    await client.aclose()
    assert route.call_count == 3
    assert 0 <= sleeps.waits[0] <= 0.25
    assert 0 <= sleeps.waits[1] <= 0.5


@respx.mock
async def test_a_submission_is_repeated_after_a_429_but_never_after_an_unclear_failure() -> None:
    route = respx.post(f"{PAPER}/v2/orders").mock(side_effect=[rate_limited(0), httpx.Response(200, json=order_json())])
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=Sleeps())
    placed = await AlpacaBroker(client).submit(intent())
    assert (placed.client_order_id, route.call_count) == ("c-1", 2)
    route.side_effect = [httpx.Response(502), httpx.Response(200, json=order_json())]
    route.reset()
    with pytest.raises(AlpacaHTTPError):
        await client.submit_order({"client_order_id": "c-2"})  # the broker reconciles, the client never repeats
    await client.aclose()
    assert route.call_count == 1


@respx.mock
async def test_a_cancel_is_sent_again_only_when_it_never_left() -> None:
    cancel = respx.delete(f"{PAPER}/v2/orders/o-1").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(204)]
    )
    respx.get(f"{PAPER}/v2/orders/o-1").mock(
        return_value=httpx.Response(200, json=order_json(id="o-1", status="canceled"))
    )
    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=Sleeps())
    broker = AlpacaBroker(client)
    assert (await broker.cancel("o-1")).status == "canceled"
    assert cancel.call_count == 2
    cancel.reset()
    cancel.side_effect = [httpx.ReadTimeout("no answer"), httpx.Response(204)]
    with pytest.raises(BrokerUnavailable, match="may or may not have been received"):
        await broker.cancel("o-1")
    await client.aclose()
    assert cancel.call_count == 1


@respx.mock
async def test_a_spent_budget_sends_nothing_and_says_the_order_was_not_sent(raptor_db: ProvisionedDatabase) -> None:
    route = respx.post(f"{PAPER}/v2/orders").mock(return_value=httpx.Response(200, json=order_json()))
    async with driver_pool(raptor_db) as pool:
        budget = SharedBudget(pool, name="alpaca:spent", rate=BudgetRate(60.0, 1), max_wait_s=1.0)
        client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=budget)
        broker = AlpacaBroker(client)
        await broker.submit(intent("c-first"))
        with pytest.raises(BrokerUnavailable, match="spent for the next 60 s; order c-second was not sent"):
            await broker.submit(intent("c-second"))
        await client.aclose()
    assert route.call_count == 1


@respx.mock
async def test_a_429_holds_the_budget_of_every_process_of_the_account(raptor_db: ProvisionedDatabase) -> None:
    """Two processes (two pools) on one account: one meets a 429, the other waits with it."""
    limited = rate_limited(4)
    reset = float(limited.headers["X-RateLimit-Reset"])
    respx.get(f"{PAPER}/v2/account").mock(
        side_effect=[limited, httpx.Response(200, json=ACCOUNT), httpx.Response(200, json=ACCOUNT)]
    )
    first, second = Sleeps(), Sleeps()
    async with driver_pool(raptor_db) as pool_a, driver_pool(raptor_db) as pool_b:
        rate = BudgetRate.under(200, 60.0)
        budgets = [
            SharedBudget(pool, name="alpaca:held", rate=rate, max_wait_s=10.0, sleep=sleeps)
            for pool, sleeps in ((pool_a, first), (pool_b, second))
        ]
        one = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=budgets[0], sleep=first)
        two = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=budgets[1], sleep=second)
        calls = []  # how long each call took (the sleeps are recorded, not slept)
        for client in (one, two):
            started = time.monotonic()
            # one: 429, Alpaca resets in ~4 s; waits, holds the budget, tries again. two: was
            # not there for the 429, and waits all the same.
            await client.account()
            calls.append(time.monotonic() - started)
        await one.aclose()
        await two.aclose()
    # Both wait until Alpaca's reset (the first plus at most 0.25 s of jitter; the second until
    # the hold the first wrote). Judged by when the waits end, not by their lengths: on a loaded
    # machine the second call starts later and rightly waits less (2.74 s once, failing ">= 3").
    # A wait is reckoned when the 429 is read and recorded a database write later, so the end
    # may pass the reset by as much as the calls took on this machine, never by more.
    assert reset - 0.1 <= first.ends[0] <= reset + 0.35 + calls[0]
    assert reset - 0.1 <= second.ends[-1] <= reset + 0.6 + sum(calls)


# -- unclear failures and reconciliation (local fake, real HTTP) ----------------------------


async def test_a_submission_that_times_out_is_found_by_its_client_order_id(
    fake: tuple[FakeAlpaca, ThreadedServer], broker: AlpacaBroker
) -> None:
    venue, _ = fake
    venue.stall_next_submission_s = 2.0  # accepted at once, answered after the 0.5 s timeout
    started = time.monotonic()
    placed = await broker.submit(intent("c-late"))
    assert time.monotonic() - started < 2.0
    assert placed.client_order_id == "c-late"
    assert (venue.submissions, len(venue.orders)) == (1, 1)


async def test_a_500_after_acceptance_is_reconciled_not_resubmitted(
    fake: tuple[FakeAlpaca, ThreadedServer], broker: AlpacaBroker
) -> None:
    venue, _ = fake
    venue.fail_next_submission_after_accepting = True
    placed = await broker.submit(intent("c-500"))
    assert placed.broker_order_id in venue.orders
    assert (venue.submissions, len(venue.orders)) == (1, 1)


async def test_a_submission_that_never_arrived_is_sent_once_more(
    fake: tuple[FakeAlpaca, ThreadedServer], broker: AlpacaBroker
) -> None:
    venue, _ = fake
    venue.refuse_next_submissions = 1  # a 503 before anything happened
    placed = await broker.submit(intent("c-again"))
    assert (venue.submissions, len(venue.orders)) == (2, 1)
    assert venue.orders[placed.broker_order_id]["client_order_id"] == "c-again"


@respx.mock
async def test_when_even_the_lookup_fails_the_outcome_is_unknown_and_says_so() -> None:
    submit = respx.post(f"{PAPER}/v2/orders").mock(side_effect=httpx.ReadTimeout("stalled"))
    lookup = respx.get(f"{PAPER}/v2/orders:by_client_order_id").mock(return_value=httpx.Response(503))

    async def no_wait(_: float) -> None:
        return None

    client = AlpacaClient(base_url=PAPER, key_id="k", secret_key="s", budget=None, sleep=no_wait)
    with pytest.raises(BrokerUnavailable, match="whether order c-lost reached Alpaca is not known yet"):
        await AlpacaBroker(client).submit(intent("c-lost"))
    await client.aclose()
    assert submit.call_count == 1  # never resubmitted blindly
    assert lookup.call_count == 3  # the read was retried
    assert lookup.calls[0].request.url.params["client_order_id"] == "c-lost"


async def test_a_refused_key_is_not_an_unclear_submission(
    fake: tuple[FakeAlpaca, ThreadedServer], broker: AlpacaBroker
) -> None:
    venue, _ = fake
    venue.secret_key = "rotated"
    with pytest.raises(BrokerUnavailable, match="refused the API keys"):
        await broker.submit(intent("c-keys"))
    assert venue.orders == {}


async def test_wrong_keys_make_ready_fail_and_name_the_setting(fake: tuple[FakeAlpaca, ThreadedServer]) -> None:
    _, server = fake
    client = AlpacaClient(base_url=server.url, key_id="PKWRONG", secret_key="wrong", budget=None, timeout_s=2)
    adapter = AlpacaBroker(client)
    check = await adapter.ready()
    with pytest.raises(BrokerUnavailable, match="RAPTOR_ALPACA_API_KEY_ID"):
        await adapter.start()
    await adapter.close()
    assert not check.ok
    assert "refused the API keys" in check.detail


async def test_a_stalled_venue_is_cut_off_by_the_timeout() -> None:
    """A socket that accepts and never answers (alpaca-py would wait forever)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    client = AlpacaClient(
        base_url=f"http://127.0.0.1:{port}", key_id="k", secret_key="s", budget=None, timeout_s=0.3, read_retries=0
    )
    try:
        started = time.monotonic()
        with pytest.raises(BrokerUnavailable, match="no answer in time"):
            await AlpacaBroker(client).account()
        assert time.monotonic() - started < 3
    finally:
        await client.aclose()
        listener.close()


# -- Raptor on Alpaca, end to end ----------------------------------------------------------


async def test_raptor_trades_on_alpaca_when_configured(
    raptor_db: ProvisionedDatabase, fake: tuple[FakeAlpaca, ThreadedServer]
) -> None:
    venue, server = fake
    venue.set_price("AAPL", Decimal("187.5"))
    config = {
        "broker": "alpaca",
        "alpaca_base_url": server.url,
        "alpaca_api_key_id": venue.key_id,
        "alpaca_api_secret_key": venue.secret_key,
    }
    async with trading_client(raptor_db, "staging", **config) as client:
        identity = (await client.get("/v1/identity")).json()
        ready = (await client.get("/readyz")).json()
        placed = await client.post("/v1/orders", json=order_body(client_order_id="ui-1"))
        await asyncio.sleep(0)
        shown = (await client.get(f"/v1/orders/{placed.json()['id']}")).json()
        account = (await client.get("/v1/account")).json()
    assert (identity["broker"], identity["paper"], identity["broker_account_id"]) == (
        "alpaca",
        True,
        venue.account_number,
    )
    assert ready["ready"] is True, ready
    assert placed.status_code == 201, placed.text
    assert (shown["status"], Decimal(shown["filled_quantity"])) == ("filled", Decimal(10))
    assert Decimal(shown["filled_avg_price"]) == Decimal("187.5")
    assert [o["client_order_id"] for o in venue.orders.values()] == ["ui-1"]
    assert Decimal(account["cash"]) == Decimal(100000) - Decimal("1875")
