"""Build the broker a deployment's settings name (``RAPTOR_BROKER``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.errors import ConfigError
from raxx.raptor.broker.alpaca import AlpacaBroker
from raxx.raptor.broker.alpaca_api import AlpacaClient
from raxx.raptor.broker.base import Broker
from raxx.raptor.broker.budget import BudgetRate, SharedBudget, account_budget_name
from raxx.raptor.broker.paper.pricing import PricePath
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.config import RaptorSettings, check_alpaca_url
from raxx.raptor.database import DriverPool, RaptorDatabase


def build_broker(settings: RaptorSettings, db: RaptorDatabase | None = None) -> Broker:
    """The venue ``settings`` name; the paper venue works on ``db``'s venue pool, Alpaca keeps
    the account's request budget through ``db``'s driver pool."""
    if db is None:
        raise AssertionError("a broker works on Raptor's database (the paper venue's book, Alpaca's budget)")
    if settings.broker == "paper":
        if db.venue_engine is None:
            raise AssertionError("the paper venue works on the venue pool of Raptor's database")
        return build_paper_broker(settings, db.venue_engine)
    if settings.broker == "alpaca":
        return alpaca_broker(settings, db.driver)
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


def alpaca_broker(settings: RaptorSettings, pool: DriverPool) -> AlpacaBroker:
    """The environment's Alpaca account; the settings already refused a live URL without
    ``RAPTOR_ALPACA_ALLOW_LIVE`` and missing keys, this checks the URL once more.

    Its request budget is the account's, shared through the environment's database by every
    worker and dyno (``budget.SharedBudget``), one short statement per request on ``pool``
    (Raptor's driver pool: autocommit, and no Alpaca path holds one of its connections
    while it asks the broker, so the budget never waits for a connection of its own pool)."""
    live = check_alpaca_url(settings.alpaca_base_url, allow_live=settings.alpaca_allow_live)
    if not settings.alpaca_api_key_id or settings.alpaca_api_secret_key is None:
        raise ConfigError("RAPTOR_BROKER=alpaca needs RAPTOR_ALPACA_API_KEY_ID and RAPTOR_ALPACA_API_SECRET_KEY")
    budget = SharedBudget(
        pool,
        name=account_budget_name("alpaca", settings.alpaca_api_key_id),
        rate=BudgetRate.under(settings.alpaca_rate_limit, settings.alpaca_rate_window_s),
        max_wait_s=settings.alpaca_budget_max_wait_s,
    )
    client = AlpacaClient(
        base_url=settings.alpaca_base_url,
        key_id=settings.alpaca_api_key_id,
        secret_key=settings.alpaca_api_secret_key.get_secret_value(),
        budget=budget,
        timeout_s=settings.alpaca_timeout_s,
        connect_timeout_s=settings.alpaca_connect_timeout_s,
    )
    return AlpacaBroker(client, live=live)
