"""Build the broker a deployment's settings name (``RAPTOR_BROKER``)."""

from __future__ import annotations

from raxx.common.db import create_engine
from raxx.raptor.broker.base import Broker
from raxx.raptor.broker.paper import PaperBroker
from raxx.raptor.broker.pricing import PricePath
from raxx.raptor.config import RaptorSettings


def build_broker(settings: RaptorSettings) -> Broker:
    """The paper broker gets its own small pool: a request holds one connection of the app's
    pool while the broker works, so sharing one pool could starve itself under load."""
    if settings.broker == "paper":
        return PaperBroker(
            create_engine(
                settings.database_url,
                application_name=f"raptor-{settings.environment}-paper",
                pool_size=settings.paper_pool_size,
            ),
            prices=PricePath(
                seed=settings.paper_seed,
                tick_seconds=settings.paper_tick_seconds,
                volatility=settings.paper_volatility,
            ),
            starting_cash=settings.paper_starting_cash,
            liquidity=settings.paper_liquidity,
        )
    raise AssertionError(f"unknown broker {settings.broker!r}")  # settings validation makes this unreachable
