"""Order wire models: ``OrderCreate`` in, ``OrderRead`` out. Decimals travel as strings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from raxx.common.contracts.trading import DecimalIn
from raxx.raptor.vocabulary import OrderStatus, OrderType, Side, TimeInForce
from raxx.raptor.wire import DecimalStr, Symbol

#: What a client order id may hold (the idempotency key, in submissions and list filters).
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: Symbol
    side: Side
    type: OrderType
    quantity: DecimalIn = Field(gt=0, le=Decimal(10**9), max_digits=18, decimal_places=8, examples=["10"])
    limit_price: DecimalIn | None = Field(
        default=None,
        gt=0,
        le=Decimal(10**9),
        max_digits=14,
        decimal_places=4,
        validate_default=True,
        description="required for limit orders, refused for market orders",
        examples=["123.45"],
    )
    time_in_force: TimeInForce = "day"
    client_order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="the idempotency key: the same id with the same body returns the original order; "
        "Raptor generates one when absent",
    )

    @field_validator("limit_price")
    @classmethod
    def _limit_price_matches_type(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        order_type = info.data.get("type")
        if order_type == "limit" and value is None:
            raise ValueError("a limit order needs a limit_price")
        if order_type == "market" and value is not None:
            raise ValueError("a market order takes no limit_price")
        return value


class Fill(BaseModel):
    quantity: DecimalStr
    price: DecimalStr
    at: datetime


class OrderRead(BaseModel):
    """An order as Raptor recorded it, with who placed it and what the broker did."""

    id: uuid.UUID
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    quantity: DecimalStr
    limit_price: DecimalStr | None
    status: OrderStatus
    filled_quantity: DecimalStr
    filled_avg_price: DecimalStr | None
    fills: list[Fill]
    reject_reason: str | None = Field(description="why the broker refused the order (status rejected)")
    cancel_reason: str | None
    broker_order_id: str | None
    created_at: datetime
    updated_at: datetime
    canceled_at: datetime | None
    filled_at: datetime | None
    token_id: str = Field(description="the token that placed the order")
    actor: str | None = Field(description="the operator named by X-Raxx-Actor")
    request_id: str


class OrderList(BaseModel):
    orders: list[OrderRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null at the end")


class OrderSummary(BaseModel):
    """What the console's Overview shows of the orders, from one query."""

    day_start: datetime = Field(description="midnight UTC today: what 'today' counts from")
    open_orders: int = Field(description="orders new or partially filled, of any day")
    placed_today: int
    fills_today: int = Field(description="fills of the orders placed today")
    rejected_today: dict[str, int] = Field(
        description="orders placed today and rejected, by the kind of reject_reason (before its colon)"
    )


class CancelFailure(BaseModel):
    order_id: uuid.UUID
    error: str
    detail: str


class CancelAllResult(BaseModel):
    canceled: list[OrderRead]
    failed: list[CancelFailure] = Field(description="orders the broker would not cancel (filled meanwhile, ...)")


def order_bytes(model: OrderRead | OrderList | CancelAllResult) -> bytes:
    """The model's JSON, by pydantic-core: it was built and validated once already."""
    return model.__pydantic_serializer__.to_json(model)
