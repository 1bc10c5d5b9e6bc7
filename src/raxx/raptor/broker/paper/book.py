"""The paper venue's rules, as pure functions over plain state: their one specification.

Buying power is cash minus what open buys have reserved; a sell may use only shares
not already promised to open sells. A fill moves cash, the position and the order
together; a cancel gives back what the order still held.

The periodic pass (``venue.maintain``), cancels and the reason given for a refusal run
these functions. A placement (``place``) also runs in SQL, inside PostgreSQL, for speed:
``raptor_paper_place`` with ``raptor_paper_settle`` (the venue's own call) and
``raptor_submit_paper_batch`` (Raptor's batched submission, settling inline); see
``statements.py`` and their text in ``src/raxx/raptor/sql/``.
``tests/raptor/test_paper_spec.py`` places random order sequences both ways and holds the
SQL to what ``place`` says.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from raxx.raptor.broker.base import BrokerFill, BrokerOrder, BrokerRejected, OrderIntent
from raxx.raptor.vocabulary import OPEN_STATUSES

ZERO = Decimal(0)
PRICE_PLACES = Decimal("0.00000001")
MONEY_PLACES = Decimal("0.000000000001")


@dataclass
class AccountState:
    account_id: str
    cash: Decimal
    reserved: Decimal

    @property
    def buying_power(self) -> Decimal:
        return self.cash - self.reserved


@dataclass
class PositionState:
    symbol: str
    quantity: Decimal = ZERO
    held: Decimal = ZERO
    cost_basis: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.quantity - self.held


@dataclass
class OrderState:
    id: uuid.UUID
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    quantity: Decimal
    limit_price: Decimal | None
    status: str
    created_at: datetime
    updated_at: datetime
    filled_quantity: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    reserved_cash: Decimal = ZERO
    fills: list[dict[str, Any]] = field(default_factory=list)
    canceled_at: datetime | None = None
    filled_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def new_order(intent: OrderIntent, now: datetime) -> OrderState:
    return OrderState(
        id=uuid.uuid4(),
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=intent.side,
        type=intent.type,
        time_in_force=intent.time_in_force,
        quantity=intent.quantity,
        limit_price=intent.limit_price,
        status="new",
        created_at=now,
        updated_at=now,
    )


def reserve(order: OrderState, *, price: Decimal, account: AccountState, position: PositionState) -> None:
    """Set aside cash (buy) or shares (sell) for the whole order, or refuse it."""
    if order.side == "buy":
        # A limit buy never pays more than its limit; a market buy is priced at the quote.
        need = order.quantity * (order.limit_price if order.limit_price is not None else price)
        if need > account.buying_power:
            raise BrokerRejected(
                f"insufficient buying power: the order needs {need.normalize():f}, "
                f"buying power is {account.buying_power.normalize():f}",
                code="insufficient_buying_power",
            )
        account.reserved += need
        order.reserved_cash = need
    else:
        if order.quantity > position.available:
            raise BrokerRejected(
                f"insufficient position: selling {order.quantity.normalize():f} {order.symbol}, "
                f"{position.available.normalize():f} available (short selling is not enabled)",
                code="insufficient_position",
            )
        position.held += order.quantity


def place(
    order: OrderState,
    *,
    price: Decimal,
    account: AccountState,
    position: PositionState,
    now: datetime,
    liquidity: Decimal | None,
) -> None:
    """A new order meets the book at ``price``: set aside what it needs (or raise
    ``BrokerRejected``), then fill what the price crosses at once, at most ``liquidity``;
    the rest rests on the book."""
    reserve(order, price=price, account=account, position=position)
    if marketable(order, price):
        apply_fill(order, price=price, account=account, position=position, now=now, liquidity=liquidity)


def marketable(order: OrderState, price: Decimal) -> bool:
    """A market order always is; a limit buy when the price is at or under its limit, a sell at or over."""
    if order.limit_price is None:
        return True
    return price <= order.limit_price if order.side == "buy" else price >= order.limit_price


def apply_fill(
    order: OrderState,
    *,
    price: Decimal,
    account: AccountState,
    position: PositionState,
    now: datetime,
    liquidity: Decimal | None,
) -> Decimal:
    """Fill as much as the liquidity allows at ``price``; return the quantity filled."""
    remaining = order.remaining
    quantity = remaining if liquidity is None else min(remaining, liquidity)
    amount = quantity * price
    if order.side == "buy":
        release = (
            order.reserved_cash
            if quantity == remaining
            else (order.reserved_cash * quantity / remaining).quantize(MONEY_PLACES)
        )
        order.reserved_cash -= release
        account.reserved -= release
        account.cash -= amount
        position.quantity += quantity
        position.cost_basis += amount
    else:
        basis_out = (
            (position.cost_basis * quantity / position.quantity).quantize(MONEY_PLACES) if position.quantity else ZERO
        )
        account.cash += amount
        position.held -= quantity
        position.quantity -= quantity
        position.cost_basis -= basis_out
    previous = order.filled_quantity
    order.filled_quantity = previous + quantity
    average = ((order.filled_avg_price or ZERO) * previous + amount) / order.filled_quantity
    order.filled_avg_price = average.quantize(PRICE_PLACES)
    order.fills.append({"quantity": str(quantity), "price": str(price), "at": now.isoformat()})
    order.status = "filled" if order.filled_quantity == order.quantity else "partially_filled"
    order.updated_at = now
    if order.status == "filled":
        order.filled_at = now
    return quantity


def release(order: OrderState, *, account: AccountState, position: PositionState, now: datetime, reason: str) -> None:
    """Cancel the unfilled rest: give back reserved cash or held shares."""
    if order.side == "buy":
        account.reserved -= order.reserved_cash
        order.reserved_cash = ZERO
    else:
        position.held -= order.remaining
    order.status = "canceled"
    order.canceled_at = now
    order.updated_at = now
    order.cancel_reason = reason


def to_broker_order(order: OrderState) -> BrokerOrder:
    return BrokerOrder(
        broker_order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,  # type: ignore[arg-type]
        type=order.type,  # type: ignore[arg-type]
        time_in_force=order.time_in_force,  # type: ignore[arg-type]
        quantity=order.quantity,
        limit_price=order.limit_price,
        status=order.status,  # type: ignore[arg-type]
        filled_quantity=order.filled_quantity,
        filled_avg_price=order.filled_avg_price,
        created_at=order.created_at,
        updated_at=order.updated_at,
        fills=tuple(
            BrokerFill(quantity=Decimal(f["quantity"]), price=Decimal(f["price"]), at=datetime.fromisoformat(f["at"]))
            for f in order.fills
        ),
        canceled_at=order.canceled_at,
        filled_at=order.filled_at,
        cancel_reason=order.cancel_reason,
    )
