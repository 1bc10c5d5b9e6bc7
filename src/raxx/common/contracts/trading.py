"""Raptor's trading API as its callers read and write it (the console, scripts, the gate).

These models are the wire contract of ``/v1/orders``, ``/v1/positions``, ``/v1/account``,
``/v1/trading`` and ``/v1/requests``. Callers are *tolerant readers*: unknown fields
are ignored, so Raptor can add fields without breaking the console. Amounts travel as
decimal strings (``"123.45"``) and are read as :class:`~decimal.Decimal`, never float.
``tests/console/test_contracts.py`` checks these against Raptor's OpenAPI document.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected"]
OPEN_STATUSES: tuple[OrderStatus, ...] = ("new", "partially_filled")
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["day", "gtc"]
SIDES: tuple[Side, ...] = get_args(Side)
ORDER_TYPES: tuple[OrderType, ...] = get_args(OrderType)
TIMES_IN_FORCE: tuple[TimeInForce, ...] = get_args(TimeInForce)

SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.]{0,9}$"
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
#: Raptor's limits on an order (``OrderCreate``): callers validate before sending.
MAX_AMOUNT = Decimal(10**9)
QUANTITY_DECIMALS = 8
PRICE_DECIMALS = 4


#: How an amount is written, as text: ASCII digits with an optional decimal point and more
#: digits (``10``, ``12.5``). No sign, exponent, spaces, underscores or other scripts' digits,
#: all of which ``Decimal`` would read (``"\u0665"``, an Arabic-Indic five, is 5; ``"5_000"`` is 5000).
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
PLAIN_DECIMAL_WORDS = "ASCII digits with an optional decimal point, like 10 or 12.5"


#: Why a JSON number with a fraction or an exponent is refused as an amount: the parser has
#: already made it a binary float, and ``100.00009999999999999`` arrives as ``100.0001``.
INEXACT_AMOUNT = (
    'an amount with a fraction is written as a string ("100.25"), not as a JSON number: '
    "a JSON number is read as binary floating point and may not be the amount sent"
)


def plain_decimal_text(value: object) -> object:
    """Refuse an amount written as text in any but the plain form (``PLAIN_DECIMAL``), and a JSON
    number that is not whole (``INEXACT_AMOUNT``); a whole JSON number, or anything else, goes on
    to ``Decimal``'s own validation."""
    if isinstance(value, str) and PLAIN_DECIMAL.fullmatch(value) is None:
        raise ValueError(f"an amount is written as {PLAIN_DECIMAL_WORDS}")
    if isinstance(value, float):
        raise ValueError(INEXACT_AMOUNT)
    return value


#: An amount as Raptor reads it: a string of the plain form, or a whole JSON number.
DecimalIn = Annotated[Decimal, BeforeValidator(plain_decimal_text)]


def plain_decimal(value: Decimal) -> str:
    """``10``, ``0.5``, ``1500``: never exponent notation, never a float."""
    return format(value.normalize(), "f")


#: A decimal written as a plain string on the wire.
WireDecimal = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]


def order_id_from(text: str) -> uuid.UUID | None:
    """The order a path segment names: a UUID in any form ``uuid.UUID`` reads (upper case,
    braces, no hyphens), or None, which names no order (answered like an unknown one)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def canonical_order_id(text: str) -> str:
    """How the audit trail names the order a request targets: one text per order, whichever
    way the request wrote it (``{ABC...}`` and ``abc...`` are one order); text naming none stays as sent."""
    order_id = order_id_from(text)
    return text if order_id is None else str(order_id)


class _Reader(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class OrderCreate(BaseModel):
    """The body of ``POST /v1/orders``. ``client_order_id`` is the idempotency key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    side: Side
    type: OrderType
    quantity: WireDecimal
    limit_price: WireDecimal | None = None
    time_in_force: TimeInForce = "day"
    client_order_id: str | None = Field(default=None, pattern=CLIENT_ORDER_ID_PATTERN)


class Fill(_Reader):
    quantity: Decimal
    price: Decimal
    at: datetime


class OrderRead(_Reader):
    id: uuid.UUID
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    quantity: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    filled_quantity: Decimal
    filled_avg_price: Decimal | None
    fills: list[Fill]
    reject_reason: str | None = None
    cancel_reason: str | None = None
    broker_order_id: str | None = None
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None = None
    filled_at: datetime | None = None
    token_id: str | None = None
    actor: str | None = None
    request_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class OrderList(_Reader):
    orders: list[OrderRead]
    next_cursor: str | None = None


class CancelFailure(_Reader):
    order_id: uuid.UUID
    error: str
    detail: str


class CancelAllResult(_Reader):
    canceled: list[OrderRead]
    failed: list[CancelFailure] = Field(default_factory=list)


class PositionRead(_Reader):
    symbol: str
    quantity: Decimal
    available: Decimal
    avg_entry_price: Decimal
    cost_basis: Decimal
    current_price: Decimal
    market_value: Decimal
    unrealized_pl: Decimal


class PositionList(_Reader):
    positions: list[PositionRead]


class AccountRead(_Reader):
    environment: str
    broker: str
    account_id: str
    paper: bool
    currency: str
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    positions_value: Decimal


class OrderSummary(_Reader):
    """``GET /v1/orders/summary``: the Overview's orders panel."""

    day_start: datetime
    open_orders: int
    placed_today: int
    fills_today: int
    rejected_today: dict[str, int]


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=500, pattern=r"\S")


class TradingStateRead(_Reader):
    halted: bool
    reason: str | None = None
    changed_at: datetime
    actor: str | None = None
    token_id: str | None = None
    request_id: str | None = None
