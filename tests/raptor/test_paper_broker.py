"""The paper venue through its own protocol, on a real database, with a clock moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from raxx.common.clock import FrozenClock
from raxx.common.db import create_engine
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.base import BrokerNotCancelable, BrokerOrderNotFound, OrderIntent, OrderQuery
from raxx.raptor.broker.paper.pricing import PricePath
from raxx.raptor.broker.paper.venue import PaperBroker
from tests.fixtures.apps import raptor_settings
from tests.fixtures.raptor import order_body, pin, trading_client


@asynccontextmanager
async def _broker(db: ProvisionedDatabase, clock: FrozenClock) -> AsyncIterator[PaperBroker]:
    """The venue on an engine of its own, started; the engine is disposed after the block."""
    settings = raptor_settings(db)
    prices = PricePath(seed=settings.paper_seed, tick_seconds=1, volatility=0.02)
    engine = create_engine(db.runtime_url, application_name="test-paper", pool_size=2)
    broker = PaperBroker(engine, prices=prices, starting_cash=Decimal(10_000), clock=clock)
    await broker.start()
    try:
        yield broker
    finally:
        await engine.dispose()


def _limit(client_order_id: str, price: str, tif: str = "day") -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id,
        symbol="AAPL",
        side="buy",
        type="limit",
        time_in_force=tif,
        quantity=Decimal(1),
        limit_price=Decimal(price),
    )  # type: ignore[arg-type]


async def test_day_orders_expire_at_the_session_end_and_gtc_orders_rest(raptor_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    async with _broker(raptor_db, clock) as broker:
        await broker.set_price("AAPL", Decimal(100))
        day = await broker.submit(_limit("day-1", "50"))
        gtc = await broker.submit(_limit("gtc-1", "50", tif="gtc"))
        clock.advance(timedelta(hours=10))  # past midnight UTC
        await broker.maintain()
        expired, resting = await broker.get(day.broker_order_id), await broker.get(gtc.broker_order_id)
        account = await broker.account()
    assert expired.status == "canceled"
    assert expired.cancel_reason is not None
    assert "expired" in expired.cancel_reason
    assert resting.status == "new"
    assert account.buying_power == Decimal(10_000) - 50  # only the gtc order still reserves


async def test_resubmission_cancel_rules_and_lookups(raptor_db: ProvisionedDatabase) -> None:
    async with _broker(raptor_db, FrozenClock(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))) as broker:
        await broker.set_price("AAPL", Decimal(100))
        first = await broker.submit(_limit("same", "90"))
        again = await broker.submit(_limit("same", "95"))  # the venue keeps the first
        canceled = await broker.cancel(first.broker_order_id)
        twice = await broker.cancel(first.broker_order_id)
        market = await broker.submit(OrderIntent("mkt", "AAPL", "buy", "market", "day", Decimal(1)))
        with pytest.raises(BrokerNotCancelable):
            await broker.cancel(market.broker_order_id)
        with pytest.raises(BrokerOrderNotFound):
            await broker.get("not-an-id")
        by_client = await broker.get_by_client_order_id("mkt")
        missing = await broker.get_by_client_order_id("never")
        listed_open = await broker.list_orders(OrderQuery(status="open"))
        listed_all = await broker.list_orders(OrderQuery(status="all", symbols=("AAPL",)))
    assert again.broker_order_id == first.broker_order_id
    assert again.limit_price == Decimal(90)
    assert canceled.status == "canceled"
    assert twice == canceled
    assert by_client is not None
    assert by_client.broker_order_id == market.broker_order_id
    assert missing is None
    assert listed_open == []
    assert {o.client_order_id for o in listed_all} == {"same", "mkt"}


async def test_quotes_follow_the_seeded_path_until_pinned(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        seeded = (await client.get("/v1/paper/prices/ZZZ")).json()
        await pin(client, "ZZZ", "12.5")
        pinned = (await client.get("/v1/paper/prices/ZZZ")).json()
        unpinned = (await client.delete("/v1/paper/prices/ZZZ")).json()
        no_position = await client.get("/v1/positions/ZZZ")
        await client.post("/v1/orders", json=order_body(symbol="ZZZ", quantity="2"))
        position = (await client.get("/v1/positions/ZZZ")).json()
        bad_actor = await client.get("/v1/orders", headers={"X-Raxx-Actor": " padded "})
    assert seeded["pinned"] is False
    assert Decimal(seeded["price"]) > 0
    assert pinned == {"symbol": "ZZZ", "price": "12.5", "pinned": True}
    assert unpinned["pinned"] is False
    assert no_position.status_code == 404
    assert no_position.json()["error"] == "position_not_found"
    assert position["quantity"] == "2"
    assert bad_actor.status_code == 422
    assert bad_actor.json()["detail"][0]["field"].endswith("X-Raxx-Actor")
