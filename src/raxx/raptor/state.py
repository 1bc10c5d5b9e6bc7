"""Per-process state of a Raptor app, built by the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from raxx.common.contracts import ReadyCheck
from raxx.raptor.broker.base import Broker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.order.batching import PaperSubmissionBatcher
from raxx.raptor.token.service import TokenVerifier


@dataclass
class RaptorState:
    """Per-process state, built by the lifespan and reached through ``deps``."""

    settings: RaptorSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    started_at: datetime
    migration_heads: set[str]
    broker: Broker
    tokens: TokenVerifier
    #: The same pool, each statement its own transaction (order submission records in steps).
    autocommit_engine: AsyncEngine
    #: Driver-level connections (psycopg, autocommit, no SQLAlchemy) for the two hot
    #: statements: the paper submission in one call and the list of orders.
    driver_pool: AsyncConnectionPool[AsyncConnection[Any]]
    #: Places paper-venue orders that arrive together in one call (on ``driver_pool``).
    paper_submissions: PaperSubmissionBatcher
    database_fingerprint: str | None = None
    #: More readiness probes (the broker adds one); each returns a ReadyCheck.
    extra_ready_checks: list[Callable[[], Awaitable[ReadyCheck]]] = field(default_factory=list)
    #: Identity fields the broker contributes: broker, broker_account_id, paper.
    broker_identity: Callable[[], dict[str, object]] | None = None
