"""``/v1/positions``."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.deps import BrokerDep, ReadCaller
from raxx.raptor.openapi import route
from raxx.raptor.position import service
from raxx.raptor.position.schemas import PositionList, PositionRead
from raxx.raptor.wire import Symbol

router = APIRouter(prefix="/v1/positions", tags=["positions"])


@route(router.get, "", "Open positions, valued at the current price", 503)
async def list_positions(broker: BrokerDep, caller: ReadCaller) -> PositionList:
    return await service.list_positions(broker)


@route(router.get, "/{symbol}", "One open position", 404, 503)
async def get_position(symbol: Symbol, broker: BrokerDep, caller: ReadCaller) -> PositionRead:
    return await service.get_position(broker, symbol)
