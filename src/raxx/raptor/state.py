"""Per-process state of a Raptor app, built by the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from raxx.common.contracts.service import ReadyCheck
from raxx.raptor.broker.base import Broker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import RaptorDatabase
from raxx.raptor.metrics import RaptorMetrics
from raxx.raptor.token.service import TokenVerifier


@dataclass
class RaptorState:
    """Per-process state, built by the lifespan and reached through ``deps``."""

    settings: RaptorSettings
    #: Every connection this process has to its database (``raxx.raptor.database``).
    db: RaptorDatabase
    started_at: datetime
    migration_heads: set[str]
    broker: Broker
    tokens: TokenVerifier
    #: This environment's series (``raxx.raptor.metrics``).
    metrics: RaptorMetrics
    database_fingerprint: str | None = None
    #: More readiness probes (the broker adds one); each returns a ReadyCheck.
    extra_ready_checks: list[Callable[[], Awaitable[ReadyCheck]]] = field(default_factory=list)
    #: Identity fields the broker contributes: broker, broker_account_id, paper.
    broker_identity: Callable[[], dict[str, object]] | None = None
