"""Raptor's metrics: its environment's series of the catalogue (``raxx.common.metrics``).

One Raptor process serves one environment, so its children are bound once, in the
lifespan; counting an event is then one ``inc()``. Both doors call :meth:`RaptorMetrics.submitted`
through :func:`counted`, so the fast path counts exactly as the routed endpoint does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client.core import Metric
from pydantic import SecretStr

from raxx.common import metrics
from raxx.common.errors import RaxxError
from raxx.raptor.order.submission import Submitted
from raxx.raptor.trading import repository as trading_repository


class RaptorMetrics:
    """The series of one environment, bound once."""

    def __init__(self, environment: str) -> None:
        self.environment = environment
        self.orders_cancelled = metrics.ORDERS_CANCELLED.labels(environment)
        self._submitted = metrics.ORDERS_SUBMITTED.labels(environment)
        self._refused: dict[str, Any] = {}

    async def submission(self, call: Awaitable[Submitted]) -> Submitted:
        """Await a submission and count it: accepted (when new) or refused with its code."""
        try:
            submitted = await call
        except RaxxError as exc:  # ``BrokerUnavailable`` too: "broker_unavailable"
            self.refused(exc.code)
            raise
        if submitted.created:
            self._submitted.inc()
        return submitted

    def refused(self, reason: str) -> None:
        child = self._refused.get(reason)
        if child is None:  # bounded: the refusal codes of the order path
            child = self._refused[reason] = metrics.ORDERS_REFUSED.labels(self.environment, reason)
        child.inc()


def _token(request: Request) -> SecretStr | None:
    token: SecretStr | None = request.app.state.raptor.settings.metrics_token
    return token


async def _state(request: Request) -> Sequence[Metric]:
    state = request.app.state.raptor
    env = state.settings.environment
    families: list[Metric] = [metrics.APP_INFO.family([(("raptor", env, state.settings.release), 1)])]
    try:
        async with asyncio.timeout(metrics.SCRAPE_DB_TIMEOUT_S), state.db.statements() as conn:
            halted = bool((await trading_repository.current(conn))["halted"])
    except Exception:  # a database that cannot answer leaves the series out: absent, not a lie
        return families
    families.append(metrics.TRADING_HALTED.family([((env,), 1 if halted else 0)]))
    return families


#: ``GET /metrics`` (scrape token ``RAPTOR_METRICS_TOKEN``).
router: APIRouter = metrics.metrics_router(token_of=_token, state_of=_state)
