"""``/v1/paper/prices/{symbol}``: read the paper venue's price, pin it (admin), unpin it (admin).

Exists only while the broker is the paper broker; otherwise every call is a 404.
"""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from raxx.common.contracts.trading import DecimalIn
from raxx.raptor.broker.base import Broker
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.deps import AdminCaller, BrokerDep, ReadCaller
from raxx.raptor.errors import PaperOnly
from raxx.raptor.openapi import AUTH_ERRORS, BODY_ERRORS, error_responses
from raxx.raptor.wire import DecimalStr, Symbol

router = APIRouter(prefix="/v1/paper/prices", tags=["paper"])


class PriceRead(BaseModel):
    symbol: str
    price: DecimalStr
    pinned: bool = Field(description="true while a price set by hand replaces the seeded path")


class PriceSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price: DecimalIn = Field(gt=0, le=Decimal(10**9), max_digits=14, decimal_places=4, examples=["101.25"])


def _paper(broker: Broker) -> PaperBroker:
    if not isinstance(broker, PaperBroker):
        raise PaperOnly("prices can be set only on the paper broker")
    return broker


async def _quoted(paper: PaperBroker, symbol: str) -> PriceRead:
    price, pinned = await paper.quote(symbol)
    return PriceRead(symbol=symbol, price=price, pinned=pinned)


_NO_BODY_ERRORS = error_responses(*AUTH_ERRORS, 404, 503)


@router.get(
    "/{symbol}", response_model=PriceRead, summary="The paper broker's current price", responses=_NO_BODY_ERRORS
)
async def get_price(symbol: Symbol, broker: BrokerDep, caller: ReadCaller) -> PriceRead:
    return await _quoted(_paper(broker), symbol)


@router.put(
    "/{symbol}",
    response_model=PriceRead,
    summary="Pin a price; resting orders it crosses fill now",
    responses=error_responses(*BODY_ERRORS, 404, 503),
)
async def set_price(symbol: Symbol, body: PriceSet, broker: BrokerDep, caller: AdminCaller) -> PriceRead:
    await _paper(broker).set_price(symbol, body.price)
    return PriceRead(symbol=symbol, price=body.price, pinned=True)


@router.delete(
    "/{symbol}",
    response_model=PriceRead,
    summary="Unpin: the seeded price path applies again",
    responses=_NO_BODY_ERRORS,
)
async def clear_price(symbol: Symbol, broker: BrokerDep, caller: AdminCaller) -> PriceRead:
    paper = _paper(broker)
    await paper.clear_price(symbol)
    return await _quoted(paper, symbol)
