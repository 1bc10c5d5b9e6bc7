"""Build the broker a deployment's settings name (``RAPTOR_BROKER``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from raxx.common.db import sqlalchemy_url
from raxx.common.errors import ConfigError
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient
from raxx.raptor.broker.base import Broker
from raxx.raptor.broker.paper import PaperBroker
from raxx.raptor.broker.pricing import PricePath
from raxx.raptor.config import RaptorSettings, check_alpaca_url


def paper_engine(settings: RaptorSettings) -> AsyncEngine:
    """The paper broker's own small pool: a request holds one connection of the app's pool
    while the broker works, so sharing one pool could starve itself under load.

    Its commits do not wait for the WAL flush: Raptor records every broker answer with a
    synchronous commit afterwards, which flushes the WAL up to and past the venue's commit.
    No pre-ping (a round trip per checkout on the order path): after a database restart the
    first use of a stale connection fails as ``BrokerUnavailable``, the pool drops its
    connections, and the order it carried stays pending until the sync pass places it.
    """
    return create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=settings.paper_pool_size,
        max_overflow=0,  # fixed size, like the app's pool: no connection churn under bursts
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "application_name": f"raptor-{settings.environment}-paper",
            "connect_timeout": 5,
            "options": "-c synchronous_commit=off",
        },
    )


def build_broker(settings: RaptorSettings) -> Broker:
    if settings.broker == "paper":
        return build_paper_broker(settings)
    if settings.broker == "alpaca":
        return alpaca_broker(settings)
    raise AssertionError(f"unknown broker {settings.broker!r}")  # settings validation makes this unreachable


def build_paper_broker(settings: RaptorSettings, broker_class: type[PaperBroker] = PaperBroker) -> PaperBroker:
    return broker_class(
        paper_engine(settings),
        prices=PricePath(
            seed=settings.paper_seed,
            tick_seconds=settings.paper_tick_seconds,
            volatility=settings.paper_volatility,
        ),
        starting_cash=settings.paper_starting_cash,
        liquidity=settings.paper_liquidity,
    )


def alpaca_broker(settings: RaptorSettings) -> AlpacaBroker:
    """The environment's Alpaca account; the settings already refused a live URL without
    ``RAPTOR_ALPACA_ALLOW_LIVE`` and missing keys, this checks the URL once more."""
    live = check_alpaca_url(settings.alpaca_base_url, allow_live=settings.alpaca_allow_live)
    if not settings.alpaca_api_key_id or settings.alpaca_api_secret_key is None:
        raise ConfigError("RAPTOR_BROKER=alpaca needs RAPTOR_ALPACA_API_KEY_ID and RAPTOR_ALPACA_API_SECRET_KEY")
    client = AlpacaClient(
        base_url=settings.alpaca_base_url,
        key_id=settings.alpaca_api_key_id,
        secret_key=settings.alpaca_api_secret_key.get_secret_value(),
        timeout_s=settings.alpaca_timeout_s,
        connect_timeout_s=settings.alpaca_connect_timeout_s,
        requests_per_minute=settings.alpaca_requests_per_minute,
    )
    return AlpacaBroker(client, live=live)
