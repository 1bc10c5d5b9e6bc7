"""Positions as the broker holds them, valued at the current price."""

from __future__ import annotations

from pydantic import BaseModel

from raxx.raptor.wire import DecimalStr


class PositionRead(BaseModel):
    symbol: str
    quantity: DecimalStr
    available: DecimalStr
    avg_entry_price: DecimalStr
    cost_basis: DecimalStr
    current_price: DecimalStr
    market_value: DecimalStr
    unrealized_pl: DecimalStr


class PositionList(BaseModel):
    positions: list[PositionRead]
