"""Positions come from the broker: it is the book of record for holdings."""

from __future__ import annotations

from dataclasses import asdict

from raxx.common.errors import NotFound
from raxx.raptor.broker.base import Broker, BrokerUnavailable
from raxx.raptor.errors import BrokerUnavailable as BrokerUnavailableError
from raxx.raptor.position.schemas import PositionList, PositionRead


class PositionNotFound(NotFound):
    code = "position_not_found"


async def list_positions(broker: Broker) -> PositionList:
    try:
        held = await broker.positions()
    except BrokerUnavailable as exc:
        raise BrokerUnavailableError(f"the broker did not answer ({exc.reason})") from exc
    return PositionList(positions=[PositionRead(**asdict(p)) for p in held])


async def get_position(broker: Broker, symbol: str) -> PositionRead:
    for position in (await list_positions(broker)).positions:
        if position.symbol == symbol:
            return position
    raise PositionNotFound(f"no open position in {symbol}")
