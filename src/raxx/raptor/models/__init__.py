"""Raptor's ORM models. Import every model module here so Alembic sees the metadata."""

from raxx.raptor.models.base import Base
from raxx.raptor.models.order import Order
from raxx.raptor.models.paper import PaperAccount, PaperOrder, PaperPosition, PaperPrice
from raxx.raptor.models.request_log import RequestRecord
from raxx.raptor.models.token import ApiToken
from raxx.raptor.models.trading import TradingEvent, TradingState

__all__ = [
    "ApiToken",
    "Base",
    "Order",
    "PaperAccount",
    "PaperOrder",
    "PaperPosition",
    "PaperPrice",
    "RequestRecord",
    "TradingEvent",
    "TradingState",
]
