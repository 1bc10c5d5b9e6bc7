"""One contract for every broker: the built-in paper broker (on its real PostgreSQL book)
and the Alpaca adapter (against a local fake speaking Alpaca's REST shapes).

A venue may work orders asynchronously (Alpaca answers ``accepted`` and fills later), so
the contract reads results after ``maintain()``, the periodic pass Raptor runs anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from raxx.common.db import create_engine
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient
from raxx.raptor.broker.base import (
    Broker,
    BrokerNotCancelable,
    BrokerOrder,
    BrokerOrderNotFound,
    BrokerRejected,
    OrderIntent,
    OrderQuery,
)
from raxx.raptor.broker.paper.pricing import PricePath
from raxx.raptor.broker.paper.venue import PaperBroker
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.fake_alpaca import FakeAlpaca
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import serve

pytestmark = LOOPBACK_ONLY

STARTING_CASH = Decimal("100000")


@dataclass
class Venue:
    """A broker under test and the one lever a test needs on its market: the price."""

    name: str
    broker: Broker
    set_price: Callable[[str, Decimal], Awaitable[None]]

    async def settled(self, order: BrokerOrder) -> BrokerOrder:
        """The order once the venue has worked it."""
        await self.broker.maintain()
        return await self.broker.get(order.broker_order_id)


@pytest.fixture(params=["paper", "alpaca"])
async def venue(request: pytest.FixtureRequest, test_databases: DatabaseFactory) -> AsyncIterator[Venue]:
    if request.param == "paper":
        db: ProvisionedDatabase = test_databases.fresh("raptor")
        engine = create_engine(db.runtime_url, application_name="contract-paper", pool_size=2)
        paper = PaperBroker(
            engine, prices=PricePath(seed=7, tick_seconds=1.0, volatility=0.02), starting_cash=STARTING_CASH
        )
        await paper.start()
        try:
            yield Venue("paper", paper, paper.set_price)
        finally:
            await paper.close()
            await engine.dispose()
        return
    fake = FakeAlpaca(cash=STARTING_CASH)

    async def set_price(symbol: str, price: Decimal) -> None:
        fake.set_price(symbol, price)

    with serve(fake.app()) as server:
        client = AlpacaClient(
            base_url=server.url, key_id=fake.key_id, secret_key=fake.secret_key, budget=None, timeout_s=5
        )
        alpaca = AlpacaBroker(client, cancel_settle_s=1.0)
        await alpaca.start()
        try:
            yield Venue("alpaca", alpaca, set_price)
        finally:
            await alpaca.close()


def intent(cid: str, **overrides: object) -> OrderIntent:
    values: dict[str, object] = {
        "client_order_id": cid,
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "quantity": Decimal("10"),
        "limit_price": None,
    }
    values.update(overrides)
    return OrderIntent(**values)  # type: ignore[arg-type]


async def test_a_market_buy_fills_at_the_price_and_moves_cash_and_position(venue: Venue) -> None:
    await venue.set_price("AAPL", Decimal("150.25"))
    placed = await venue.broker.submit(intent("c-market"))
    done = await venue.settled(placed)
    account = await venue.broker.account()
    [position] = await venue.broker.positions()

    assert (done.status, done.filled_quantity, done.filled_avg_price) == ("filled", Decimal(10), Decimal("150.25"))
    assert done.client_order_id == "c-market"
    assert sum(f.quantity for f in done.fills) == done.filled_quantity
    assert account.cash == STARTING_CASH - Decimal("1502.5")
    assert account.paper is True
    assert (position.symbol, position.quantity, position.avg_entry_price) == ("AAPL", Decimal(10), Decimal("150.25"))
    assert position.market_value == Decimal("1502.5")
    for value in (account.cash, account.buying_power, account.equity, position.cost_basis, position.unrealized_pl):
        assert isinstance(value, Decimal)


async def test_resubmitting_a_client_order_id_returns_the_first_order(venue: Venue) -> None:
    first = await venue.broker.submit(intent("c-twice", type="limit", limit_price=Decimal("50")))
    again = await venue.broker.submit(intent("c-twice", type="limit", limit_price=Decimal("50")))
    listed = await venue.broker.list_orders(OrderQuery(status="all"))
    assert again.broker_order_id == first.broker_order_id
    assert [o.client_order_id for o in listed] == ["c-twice"]


async def test_a_resting_limit_order_is_open_listed_and_cancelable_once_or_twice(venue: Venue) -> None:
    await venue.set_price("MSFT", Decimal("400"))
    placed = await venue.broker.submit(intent("c-rest", symbol="MSFT", type="limit", limit_price=Decimal("390")))
    resting = await venue.settled(placed)
    open_orders = await venue.broker.list_orders(OrderQuery(status="open"))
    canceled = await venue.broker.cancel(placed.broker_order_id)
    again = await venue.broker.cancel(placed.broker_order_id)

    assert resting.is_open
    assert (resting.status, resting.limit_price, resting.filled_quantity) == ("new", Decimal(390), Decimal(0))
    assert [o.broker_order_id for o in open_orders] == [placed.broker_order_id]
    assert (canceled.status, again.status) == ("canceled", "canceled")
    assert canceled.canceled_at is not None
    assert await venue.broker.list_orders(OrderQuery(status="open")) == []


async def test_a_limit_order_fills_when_the_price_crosses_it(venue: Venue) -> None:
    await venue.set_price("NVDA", Decimal("120"))
    placed = await venue.broker.submit(intent("c-cross", symbol="NVDA", type="limit", limit_price=Decimal("110")))
    assert (await venue.settled(placed)).status == "new"
    await venue.set_price("NVDA", Decimal("109.5"))
    done = await venue.settled(placed)
    assert (done.status, done.filled_quantity) == ("filled", Decimal(10))
    assert done.filled_avg_price is not None
    assert done.filled_avg_price <= Decimal("110")


async def test_a_filled_order_cannot_be_canceled_and_says_how_it_ended(venue: Venue) -> None:
    await venue.set_price("AAPL", Decimal("10"))
    placed = await venue.settled(await venue.broker.submit(intent("c-done")))
    with pytest.raises(BrokerNotCancelable) as refused:
        await venue.broker.cancel(placed.broker_order_id)
    assert refused.value.order.status == "filled"


async def test_unknown_orders_are_not_found(venue: Venue) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(BrokerOrderNotFound):
        await venue.broker.get(missing)
    with pytest.raises(BrokerOrderNotFound):
        await venue.broker.get("not-an-order-id")
    with pytest.raises(BrokerOrderNotFound):
        await venue.broker.cancel(missing)
    assert await venue.broker.get_by_client_order_id("c-never") is None


async def test_the_client_order_id_finds_the_order(venue: Venue) -> None:
    placed = await venue.broker.submit(intent("c-find", type="limit", limit_price=Decimal("1")))
    found = await venue.broker.get_by_client_order_id("c-find")
    assert found is not None
    assert found.broker_order_id == placed.broker_order_id


async def test_a_buy_beyond_buying_power_is_rejected_as_such(venue: Venue) -> None:
    await venue.set_price("BRK", Decimal("700000"))
    with pytest.raises(BrokerRejected) as refused:
        await venue.broker.submit(intent("c-rich", symbol="BRK", quantity=Decimal(1)))
    assert refused.value.code == "insufficient_buying_power"


async def test_selling_what_is_not_held_is_rejected_as_such(venue: Venue) -> None:
    with pytest.raises(BrokerRejected) as refused:
        await venue.broker.submit(intent("c-short", side="sell", quantity=Decimal(5)))
    assert refused.value.code == "insufficient_position"


async def test_orders_are_listed_by_status_and_symbol(venue: Venue) -> None:
    await venue.set_price("AAPL", Decimal("10"))
    await venue.set_price("TSLA", Decimal("10"))
    filled = await venue.settled(await venue.broker.submit(intent("c-a", quantity=Decimal(1))))
    resting = await venue.broker.submit(intent("c-t", symbol="TSLA", type="limit", limit_price=Decimal("5")))
    await venue.broker.maintain()
    closed = await venue.broker.list_orders(OrderQuery(status="closed"))
    tsla = await venue.broker.list_orders(OrderQuery(status="all", symbols=("TSLA",)))
    assert [o.broker_order_id for o in closed] == [filled.broker_order_id]
    assert [o.broker_order_id for o in tsla] == [resting.broker_order_id]


async def test_ready_and_identity_name_the_paper_account(venue: Venue) -> None:
    check = await venue.broker.ready()
    identity = venue.broker.identity()
    account = await venue.broker.account()
    assert check.ok, check.detail
    assert identity == {"broker": venue.name, "broker_account_id": account.account_id, "paper": True}
    assert str(account.account_id).startswith("PA")
    assert account.account_id in check.detail
