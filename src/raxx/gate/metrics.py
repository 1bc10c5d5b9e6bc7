"""The monitor's ``/metrics``: its health-sample counts and the release board's gauges.

Served on ``GATE_METRICS_PORT`` (unset: not served) with the scrape token
``GATE_METRICS_TOKEN``, by the monitor process itself, next to its polling loop. On Heroku
the monitor is a worker dyno, which no router reaches: there Prometheus scrapes the
console, whose ``/metrics`` carries the same board gauges read from the ledger
(``docs/operations.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence

from fastapi import FastAPI, Request
from prometheus_client.core import Metric
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from raxx.common import metrics
from raxx.common.asgi import install_json_error_handlers
from raxx.common.logging import log_event
from raxx.gate.board import read_board
from raxx.gate.config import GateSettings

log = logging.getLogger("raxx.gate.metrics")


def sampled(app: str, environment: str, *, ok: bool, starting: bool) -> None:
    """Count one recorded health sample."""
    result = "ok" if ok else "starting" if starting else "failed"
    metrics.HEALTH_SAMPLES.labels(app, environment, result).inc()


def metrics_app(settings: GateSettings, sessions: async_sessionmaker[AsyncSession]) -> FastAPI:
    """A small app with ``GET /metrics`` only, refusals in the one error shape."""

    async def state(request: Request) -> Sequence[Metric]:
        try:
            async with sessions() as session:
                board = await read_board(session)
        except Exception as exc:  # the ledger down: the board's series are absent, the counts still served
            log_event(log, "gate.metrics.board.failed", level=logging.WARNING, error=type(exc).__name__)
            return []
        return metrics.board_families(board) if board is not None else []

    app = FastAPI(title="Raxx monitor", docs_url=None, redoc_url=None, openapi_url=None)
    install_json_error_handlers(app)
    app.include_router(metrics.metrics_router(token_of=lambda _: settings.metrics_token, state_of=state))
    return app


@contextlib.asynccontextmanager
async def serving_metrics(settings: GateSettings, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """Serve the monitor's ``/metrics`` while the block runs, when ``GATE_METRICS_PORT`` is set."""
    if settings.metrics_port is None:
        yield
        return
    import uvicorn

    from raxx.common.asgi import server_options

    class SignalFreeServer(uvicorn.Server):
        """uvicorn without its signal handling: the monitor's loop owns SIGTERM and SIGINT."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    options = server_options(host=settings.metrics_host, port=settings.metrics_port, graceful_s=2)
    server = SignalFreeServer(uvicorn.Config(metrics_app(settings, sessions), lifespan="off", **options))
    task = asyncio.create_task(server.serve(), name="monitor-metrics")
    log_event(log, "gate.metrics.serve.ok", port=settings.metrics_port)
    try:
        yield
    finally:
        server.should_exit = True
        await task
