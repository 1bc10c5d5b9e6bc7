"""Positions come from the broker: it is the book of record for holdings."""

from __future__ import annotations

from dataclasses import asdict

from raxx.common.errors import NotFound
from raxx.raptor.broker.base import Broker
from raxx.raptor.position.schemas import PositionList, PositionRead


class PositionNotFound(NotFound):
    code = "position_not_found"


async def list_positions(broker: Broker) -> PositionList:
    held = await broker.positions()  # ``BrokerUnavailable`` is its own 503
    return PositionList(positions=[PositionRead(**asdict(p)) for p in held])


async def get_position(broker: Broker, symbol: str) -> PositionRead:
    for position in (await list_positions(broker)).positions:
        if position.symbol == symbol:
            return position
    raise PositionNotFound(f"no open position in {symbol}")
