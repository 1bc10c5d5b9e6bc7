"""The one owner of Raptor's connections to its database, sized by the connection budget.

A Raptor process reaches PostgreSQL three ways, each for a measured reason, and this object
owns all three so that nothing else opens a connection or chooses between them:

* ``request`` (SQLAlchemy): the request's own transaction (``transaction()``: the request
  commits on success, rolls back on error), statements that are each their own
  transaction (``statements()``: an order's record before and after the broker), token
  checks, readiness, the background sync.
* ``driver`` (psycopg's own pool, autocommit): the two hot statements, the paper batch call
  and the list of orders; a checkout costs a fraction of SQLAlchemy's (no pre-ping round
  trip, no isolation-level switch and reset; ``bench/README.md``). The paper batcher holds
  one of these while orders keep coming (``place_paper``). With Alpaca, the account's
  request budget (``broker/budget.py``) runs one short statement here per Alpaca request.
* ``venue`` (the paper broker's own small engine, paper venue only): a request holding its
  transaction may ask the venue (a cancel locks the order, then the venue's book), so the
  venue cannot share the request's pool without starving itself; the venue never waits
  for a request's connection, so the two pools cannot deadlock.

Sizes come from ``raxx.common.dbbudget.raptor_web_pools``; each pool waits at most
``ACQUIRE_TIMEOUT_S`` for a connection and a wait that runs out is ``DatabaseBusy`` (a 503
with ``Retry-After``), never ``too many connections``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from raxx.common.db import busy_as_unavailable, create_engine, libpq_url, session_factory, sqlalchemy_url
from raxx.common.dbbudget import ACQUIRE_TIMEOUT_S, Pools, raptor_web_pools
from raxx.common.logging import log_pools
from raxx.raptor.broker.paper.batching import PaperSubmissionBatcher, Placement
from raxx.raptor.config import RaptorSettings

log = logging.getLogger("raxx.raptor.database")
DriverPool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


def raptor_pools(settings: RaptorSettings) -> Pools:
    """This deployment's pool sizes, or the one-line refusal when its formation cannot fit."""
    return raptor_web_pools(settings.budget, paper=settings.broker == "paper")


class RaptorDatabase:
    """Built by the lifespan (``open``/``close``); reached through ``RaptorState.db``."""

    def __init__(self, settings: RaptorSettings, pools: Pools) -> None:
        self.pools = pools
        name = f"raptor-{settings.environment}"
        self.engine = create_engine(settings.database_url, application_name=name, pool_size=pools["request"])
        self._sessions = session_factory(self.engine)
        # The same pool, each statement its own transaction.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.driver: DriverPool = AsyncConnectionPool(
            libpq_url(settings.database_url),
            min_size=1,
            max_size=pools["driver"],
            timeout=ACQUIRE_TIMEOUT_S,
            kwargs={"autocommit": True, "application_name": name, "connect_timeout": 5},
            open=False,
            name=f"{name}-driver",
        )
        self.venue_engine = _venue_engine(settings, pools.sizes.get("venue", 0))
        self.submissions = PaperSubmissionBatcher(self.driver)

    async def open(self) -> None:
        # Connects in the background: a database still down is /readyz's to say.
        await self.driver.open(wait=False)
        log_pools(log, self.pools)

    async def close(self) -> None:
        await self.driver.close()
        if self.venue_engine is not None:
            await self.venue_engine.dispose()
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """The request's transaction: committed when the block ends, rolled back on any error.

        Its connection is taken at the first statement, not before: a request that holds a
        connection while it asks for another of the same pool (its token check, before the
        endpoint runs) could wait for itself. A connection that cannot be had in time is a
        ``DatabaseBusy``."""
        async with self._sessions() as session:
            try:
                with busy_as_unavailable("request"):
                    yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def statements(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement is its own transaction (autocommit)."""
        with busy_as_unavailable("request"):
            async with self._autocommit.connect() as conn:
                yield conn

    @asynccontextmanager
    async def hot(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A driver-level connection (autocommit) for a hot statement."""
        with busy_as_unavailable("driver"):
            async with self.driver.connection() as conn:
                yield conn

    async def place_paper(self, values: dict[str, Any]) -> Placement:
        """Place one paper order in the next batch call (``broker/paper/batching.py``)."""
        return await self.submissions.place(values)


def _venue_engine(settings: RaptorSettings, size: int) -> AsyncEngine | None:
    """The paper venue's pool (none for other brokers).

    Its commits do not wait for the WAL flush: Raptor records every broker answer with a
    synchronous commit afterwards, which flushes the WAL up to and past the venue's commit.
    No pre-ping (a round trip per checkout on the order path): after a database restart the
    first use of a stale connection fails as ``BrokerUnavailable``, the pool drops its
    connections, and the order it carried stays pending until the sync pass places it.
    """
    if size == 0:
        return None
    return create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=size,
        max_overflow=0,  # fixed size, like every pool here: no connection the budget did not count
        pool_timeout=ACQUIRE_TIMEOUT_S,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "application_name": f"raptor-{settings.environment}-paper",
            "connect_timeout": 5,
            "options": "-c synchronous_commit=off",
        },
    )
