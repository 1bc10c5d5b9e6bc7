"""The trading account behind this deployment."""

from __future__ import annotations

from pydantic import BaseModel, Field

from raxx.raptor.wire import DecimalStr


class AccountRead(BaseModel):
    environment: str
    broker: str
    account_id: str = Field(description="the broker's account id; stable for this environment")
    paper: bool = Field(description="true when no real money moves")
    currency: str
    cash: DecimalStr
    buying_power: DecimalStr = Field(description="cash not reserved by open buy orders")
    equity: DecimalStr = Field(description="cash plus positions at the current price")
    positions_value: DecimalStr
