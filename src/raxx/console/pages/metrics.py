"""``GET /metrics``: the console's series, for Prometheus with ``CONSOLE_METRICS_TOKEN``.

Besides the event metrics, read when scraped: the audit trail's open attempts, head and
verified position, and, when this console reads the gate's ledger
(``CONSOLE_LEDGER_DATABASE_URL``), the release board's gauges. On Heroku this is how the
monitor's state reaches Prometheus: the monitor is a worker dyno, which no router reaches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from fastapi import APIRouter, Request
from prometheus_client.core import Metric
from pydantic import SecretStr

from raxx.common import metrics
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.metrics import NO_ENVIRONMENT
from raxx.console.pages.releases import read_board
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.metrics")


def _token(request: Request) -> SecretStr | None:
    token: SecretStr | None = request.app.state.console.settings.metrics_token
    return token


async def _state(request: Request) -> Sequence[Metric]:
    state: ConsoleState = request.app.state.console
    families: list[Metric] = [metrics.APP_INFO.family([(("console", NO_ENVIRONMENT, state.settings.release), 1)])]
    try:
        async with asyncio.timeout(metrics.SCRAPE_DB_TIMEOUT_S), state.engine.connect() as conn:
            open_attempts = await repository.open_attempt_counts(conn)
            head = await repository.head(conn)
            verified = await repository.newest_checkpoint_seq(conn)
    except Exception as exc:  # absent series, not a failed scrape: the rest still tells
        log_event(log, "console.metrics.audit.failed", level=logging.WARNING, error=type(exc).__name__)
    else:
        names = set(state.registry)
        by_env: dict[str, int] = dict.fromkeys(sorted(names), 0)
        for env, count in open_attempts.items():
            label = env if env in names else NO_ENVIRONMENT
            by_env[label] = by_env.get(label, 0) + count
        families += [
            metrics.AUDIT_OPEN_ATTEMPTS.family(((env,), n) for env, n in by_env.items()),
            metrics.AUDIT_HEAD.family([((), head.seq if head else 0)]),
            metrics.AUDIT_VERIFIED.family([((), verified or 0)]),
        ]
    if state.settings.ledger_database_url:
        board, _why = await read_board(state)  # its failure is logged there, and the series are absent
        if board is not None:
            families += metrics.board_families(board)
    return families


#: ``GET /metrics`` (scrape token ``CONSOLE_METRICS_TOKEN``).
router: APIRouter = metrics.metrics_router(token_of=_token, state_of=_state)
