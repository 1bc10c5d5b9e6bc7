"""Build the broker a deployment's settings name (``RAPTOR_BROKER``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.errors import ConfigError
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient
from raxx.raptor.broker.base import Broker
from raxx.raptor.broker.paper import PaperBroker
from raxx.raptor.broker.pricing import PricePath
from raxx.raptor.config import RaptorSettings, check_alpaca_url
from raxx.raptor.database import RaptorDatabase


def build_broker(settings: RaptorSettings, db: RaptorDatabase | None = None) -> Broker:
    """The venue ``settings`` name; the paper venue works on ``db``'s venue pool."""
    if settings.broker == "paper":
        if db is None or db.venue_engine is None:
            raise AssertionError("the paper venue works on the venue pool of Raptor's database")
        return build_paper_broker(settings, db.venue_engine)
    if settings.broker == "alpaca":
        return alpaca_broker(settings)
    raise AssertionError(f"unknown broker {settings.broker!r}")  # settings validation makes this unreachable


def build_paper_broker(
    settings: RaptorSettings, venue: AsyncEngine, broker_class: type[PaperBroker] = PaperBroker
) -> PaperBroker:
    return broker_class(
        venue,
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
