"""Raptor's ORM models. Import every model module here so Alembic sees the metadata."""

from sqlalchemy import MetaData

from raxx.raptor.models.base import Base
from raxx.raptor.models.budget import BrokerRequestBudget
from raxx.raptor.models.order import Order
from raxx.raptor.models.paper import PaperAccount, PaperOrder, PaperPosition, PaperPrice
from raxx.raptor.models.request_log import RequestRecord
from raxx.raptor.models.token import ApiToken
from raxx.raptor.models.trading import TradingEvent, TradingState

#: Every table of Raptor's database as the code declares it: Alembic's target, and what
#: tests/test_models_current.py holds a migrated database to.
SCHEMA: tuple[MetaData, ...] = (Base.metadata,)

__all__ = [
    "SCHEMA",
    "ApiToken",
    "Base",
    "BrokerRequestBudget",
    "Order",
    "PaperAccount",
    "PaperOrder",
    "PaperPosition",
    "PaperPrice",
    "RequestRecord",
    "TradingEvent",
    "TradingState",
]
