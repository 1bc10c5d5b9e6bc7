"""The broker protocol, in Raptor's own terms, shaped after Alpaca's order model.

Client order ids, time in force, partial fills and (later) notional orders map one to
one onto Alpaca's ``/v2/orders``; an Alpaca paper adapter implements this same
protocol. No vendor type crosses this boundary: only the frozen dataclasses below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from raxx.common.contracts.service import ReadyCheck
from raxx.common.errors import Unavailable
from raxx.raptor.vocabulary import OPEN_STATUSES, OrderStatus, OrderType, Side, TimeInForce

ListStatus = Literal["open", "closed", "all"]


@dataclass(frozen=True)
class OrderTerms:
    """What an order asks for, the same in Raptor's intent and in the venue's view of it
    (each adds ``limit_price`` next: only the intent may leave it out)."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal


@dataclass(frozen=True)
class OrderIntent(OrderTerms):
    """What Raptor asks the venue to do. ``client_order_id`` makes a resubmission harmless."""

    limit_price: Decimal | None = None


@dataclass(frozen=True)
class BrokerFill:
    quantity: Decimal
    price: Decimal
    at: datetime


@dataclass(frozen=True)
class BrokerOrder(OrderTerms):
    """The venue's view of one order: its terms, the venue's id for it, and what became of it."""

    limit_price: Decimal | None
    broker_order_id: str
    status: OrderStatus
    filled_quantity: Decimal
    filled_avg_price: Decimal | None
    created_at: datetime
    updated_at: datetime
    fills: tuple[BrokerFill, ...] = ()
    canceled_at: datetime | None = None
    filled_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class BrokerAccount:
    account_id: str
    paper: bool
    currency: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    positions_value: Decimal


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    quantity: Decimal
    available: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal
    market_value: Decimal
    unrealized_pl: Decimal


@dataclass(frozen=True)
class OrderQuery:
    status: ListStatus = "all"
    limit: int = 100
    after: datetime | None = None
    until: datetime | None = None
    symbols: tuple[str, ...] = field(default=())


class BrokerError(Exception):
    """Base of what a broker raises; ``reason`` is safe to show an operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BrokerRejected(BrokerError):
    """The venue refused the order (buying power, position, symbol): a business answer."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


class BrokerOrderNotFound(BrokerError):
    pass


class BrokerNotCancelable(BrokerError):
    """The order is already done (filled, rejected); ``order`` is its final state."""

    def __init__(self, reason: str, *, order: BrokerOrder) -> None:
        super().__init__(reason)
        self.order = order


class BrokerUnavailable(BrokerError, Unavailable):
    """The venue could not be reached or did not answer: the outcome is unknown.

    The one class for it, from the venue to the HTTP answer: a refusal that renders as a
    503 ``broker_unavailable`` with ``Retry-After``, whose detail is "the broker did not
    answer (reason)" unless the code that knows what became of the order says more
    (``detail``, ``extra``). ``str()`` and ``reason`` are the venue's reason, as for every
    ``BrokerError``."""

    code = "broker_unavailable"

    def __init__(self, reason: str, *, detail: str | None = None, extra: dict[str, Any] | None = None) -> None:
        Unavailable.__init__(self, detail or f"the broker did not answer ({reason})", extra=extra)
        self.reason = reason
        self.args = (reason,)


class Broker(Protocol):
    """A trading venue. Every method is idempotent where the venue allows it:
    ``submit`` with a client order id the venue already has returns that order."""

    name: str
    paper: bool
    #: True when the venue's book is in Raptor's own database (the paper broker): one
    #: synchronous commit after the venue answers then makes everything before it durable.
    shares_raptor_database: bool

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, intent: OrderIntent) -> BrokerOrder: ...

    async def cancel(self, broker_order_id: str) -> BrokerOrder: ...

    async def get(self, broker_order_id: str) -> BrokerOrder: ...

    async def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None: ...

    async def list_orders(self, query: OrderQuery) -> list[BrokerOrder]: ...

    async def account(self) -> BrokerAccount: ...

    async def positions(self) -> list[BrokerPosition]: ...

    async def maintain(self) -> None:
        """Periodic venue work (paper: fill crossing limits, expire day orders; Alpaca: none)."""
        ...

    async def ready(self) -> ReadyCheck: ...

    def identity(self) -> dict[str, object]:
        """``broker``, ``broker_account_id`` and ``paper`` for ``/v1/identity``."""
        ...
