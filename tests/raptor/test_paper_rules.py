"""The paper venue's rules without a database: price paths and bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from raxx.raptor.broker.base import BrokerRejected, OrderIntent
from raxx.raptor.broker.paper import book
from raxx.raptor.broker.paper.pricing import PricePath

T0 = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def test_price_path_is_deterministic_per_seed_and_symbol() -> None:
    a, b = PricePath(seed=1, tick_seconds=1, volatility=0.02), PricePath(seed=1, tick_seconds=1, volatility=0.02)
    other_seed = PricePath(seed=2, tick_seconds=1, volatility=0.02)
    series = [a.price_at("AAPL", T0 + timedelta(seconds=s)) for s in range(120)]
    assert series == [b.price_at("AAPL", T0 + timedelta(seconds=s)) for s in range(120)]
    assert series != [other_seed.price_at("AAPL", T0 + timedelta(seconds=s)) for s in range(120)]
    assert a.price_at("MSFT", T0) != a.price_at("AAPL", T0)
    assert len(set(series)) > 20  # it moves
    base = a.base_price("AAPL")
    assert all(abs(p - base) <= base * Decimal("0.021") for p in series)  # and stays within the volatility
    assert all(p == p.quantize(Decimal("0.01")) for p in series)


def test_price_is_constant_within_a_tick() -> None:
    path = PricePath(seed=7, tick_seconds=10, volatility=0.05)
    start = datetime.fromtimestamp(1_800_000_000, UTC)
    assert path.price_at("X", start) == path.price_at("X", start + timedelta(seconds=9.9))


def _intent(**overrides: object) -> OrderIntent:
    values: dict[str, object] = {
        "client_order_id": "c",
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "quantity": Decimal(10),
    }
    values.update(overrides)
    return OrderIntent(**values)  # type: ignore[arg-type]


def test_a_limit_buy_reserves_at_its_limit_and_releases_on_fill() -> None:
    account = book.AccountState("PA1", cash=Decimal(1000), reserved=Decimal(0))
    position = book.PositionState("AAPL")
    order = book.new_order(_intent(type="limit", limit_price=Decimal(50)), T0)
    book.reserve(order, price=Decimal(60), account=account, position=position)
    assert account.reserved == 500
    assert account.buying_power == 500
    assert not book.marketable(order, Decimal("50.01"))
    assert book.marketable(order, Decimal(50))
    book.apply_fill(order, price=Decimal(48), account=account, position=position, now=T0, liquidity=Decimal(4))
    assert order.status == "partially_filled"
    assert account.reserved == 300
    assert account.cash == 1000 - 192
    book.apply_fill(order, price=Decimal(49), account=account, position=position, now=T0, liquidity=None)
    assert order.status == "filled"
    assert account.reserved == 0
    assert account.cash == 1000 - 192 - 294
    assert position.quantity == 10
    assert position.cost_basis == 486
    assert order.filled_avg_price == Decimal("48.6")


def test_reserve_refuses_beyond_buying_power_and_beyond_the_position() -> None:
    account = book.AccountState("PA1", cash=Decimal(100), reserved=Decimal(60))
    with pytest.raises(BrokerRejected) as refused:
        book.reserve(
            book.new_order(_intent(quantity=Decimal(1)), T0),
            price=Decimal(41),
            account=account,
            position=book.PositionState("AAPL"),
        )
    assert refused.value.code == "insufficient_buying_power"
    held = book.PositionState("AAPL", quantity=Decimal(5), held=Decimal(3))
    with pytest.raises(BrokerRejected) as short:
        book.reserve(
            book.new_order(_intent(side="sell", quantity=Decimal(3)), T0),
            price=Decimal(1),
            account=account,
            position=held,
        )
    assert short.value.code == "insufficient_position"
    assert account.reserved == 60
    assert held.held == 3


def test_cancel_gives_back_held_shares() -> None:
    account = book.AccountState("PA1", cash=Decimal(0), reserved=Decimal(0))
    position = book.PositionState("AAPL", quantity=Decimal(10), cost_basis=Decimal(100))
    order = book.new_order(_intent(side="sell", type="limit", limit_price=Decimal(20)), T0)
    book.reserve(order, price=Decimal(10), account=account, position=position)
    assert position.available == 0
    book.release(order, account=account, position=position, now=T0, reason="canceled on request")
    assert position.available == 10
    assert order.status == "canceled"
    assert order.canceled_at == T0
