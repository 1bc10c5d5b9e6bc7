"""``/v1/positions``."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.deps import BrokerDep, ReadCaller
from raxx.raptor.openapi import AUTH_ERRORS, error_responses
from raxx.raptor.position import service
from raxx.raptor.position.schemas import PositionList, PositionRead
from raxx.raptor.wire import Symbol

router = APIRouter(prefix="/v1/positions", tags=["positions"])


@router.get(
    "",
    response_model=PositionList,
    summary="Open positions, valued at the current price",
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def list_positions(broker: BrokerDep, caller: ReadCaller) -> PositionList:
    return await service.list_positions(broker)


@router.get(
    "/{symbol}",
    response_model=PositionRead,
    summary="One open position",
    responses=error_responses(*AUTH_ERRORS, 404, 503),
)
async def get_position(symbol: Symbol, broker: BrokerDep, caller: ReadCaller) -> PositionRead:
    return await service.get_position(broker, symbol)
