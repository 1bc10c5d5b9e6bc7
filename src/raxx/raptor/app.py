"""Raptor's app factory. Nothing happens at import time; the lifespan builds the connection owner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware

from raxx.common import tracing
from raxx.common.asgi import RequestIdMiddleware, install_json_error_handlers
from raxx.common.clock import utcnow
from raxx.common.doors import DoorsApp, FastPath
from raxx.common.logging import log_event
from raxx.common.metrics import HttpMetricsMiddleware
from raxx.common.migrations import script_heads
from raxx.common.strictquery import KNOWN_QUERY_ONLY
from raxx.raptor import maintenance
from raxx.raptor.account.endpoints import router as account_router
from raxx.raptor.broker.base import Broker, BrokerUnavailable
from raxx.raptor.broker.deadline import BrokerDeadline
from raxx.raptor.broker.factory import build_broker
from raxx.raptor.broker.paper.endpoints import router as paper_router
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import RaptorDatabase, raptor_pools
from raxx.raptor.health.endpoints import router as health_router
from raxx.raptor.intake import RequestIntake
from raxx.raptor.logctx import environment_warning
from raxx.raptor.metrics import RaptorMetrics
from raxx.raptor.metrics import router as metrics_router
from raxx.raptor.order import endpoints as order_endpoints
from raxx.raptor.order.fast import OrderFastPath
from raxx.raptor.position.endpoints import router as position_router
from raxx.raptor.requestlog.endpoints import router as request_router
from raxx.raptor.state import RaptorState
from raxx.raptor.token.service import TokenVerifier
from raxx.raptor.trading.endpoints import router as trading_router

log = logging.getLogger("raxx.raptor")
#: Raptor's doors (``raxx.common.doors``): each routed endpoint a fast path stands in front
#: of, with the requests it answers itself; it hands all others to that endpoint, and every
#: other request goes to ``ROUTERS``. docs/engineering.md shows this table rendered.
FAST_PATHS: tuple[FastPath, ...] = (
    FastPath(
        OrderFastPath,
        serves={
            order_endpoints.submit_order: "when the token has `trade`, the body is plain JSON, the venue is paper",
            order_endpoints.list_orders: "when the token has `read` and the query is at most `limit=N`",
        },
    ),
)
ROUTERS = (
    health_router,
    order_endpoints.router,
    position_router,
    account_router,
    trading_router,
    request_router,
    paper_router,
    metrics_router,  # GET /metrics, for Prometheus with the scrape token (not in the OpenAPI document)
)


def create_app(
    settings: RaptorSettings,
    *,
    broker_factory: Callable[[RaptorSettings, RaptorDatabase], Broker] = build_broker,
) -> FastAPI:
    """The app for one environment; ``broker_factory`` picks the venue (tests wrap the paper one).

    Its pool sizes are worked out here, before anything is served: a formation that cannot
    fit the declared connection budget refuses to start (``BudgetTooSmall``, exit 78)."""
    pools = raptor_pools(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = RaptorDatabase(settings, pools)
        await db.open()
        broker = broker_factory(settings, db)
        state = RaptorState(
            settings=settings,
            db=db,
            started_at=utcnow(),
            migration_heads=script_heads("raptor"),
            broker=broker,
            tokens=TokenVerifier(
                db.statements, environment=settings.environment, cache_seconds=settings.token_cache_seconds
            ),
            metrics=RaptorMetrics(settings.environment),
            extra_ready_checks=[broker.ready],
            broker_identity=broker.identity,
        )
        app.state.raptor = state
        await _start_broker(state)
        background = _start_maintenance(state)
        log_event(
            log, "raptor.start.ok", environment=settings.environment, release=settings.release, broker=broker.name
        )
        try:
            yield
        finally:
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            await broker.close()
            await db.close()
            tracing.flush()

    tracing.setup("raxx-raptor", **{"deployment.environment.name": settings.environment})
    app = DoorsApp(
        title=f"Raptor ({settings.environment})",
        # Every request: a query parameter its route does not declare is refused (422).
        dependencies=[KNOWN_QUERY_ONLY],
        # Both doors: a body is read only from a verified caller, within the limit, as JSON.
        entrance=[Middleware(RequestIntake, max_body=settings.max_body_bytes)],
        version=settings.release,
        description="The Raptor trading API. One codebase, one deployment per environment.",
        lifespan=lifespan,
        fast_paths=FAST_PATHS,
        telemetry=tracing.fastapi_telemetry(),  # server spans continuing the caller's traceparent
    )
    # Both doors: a request waits on the broker this long in all, then answers 503.
    app.add_middleware(BrokerDeadline, seconds=settings.broker_deadline_s)
    app.add_middleware(RequestIdMiddleware)  # set (and echoed) before either door runs
    environment = settings.environment
    # Outermost: every request of both doors is counted and timed, refusals included.
    app.add_middleware(HttpMetricsMiddleware, app_name="raptor", environment_of=lambda scope: environment)
    install_json_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


async def _start_broker(state: RaptorState) -> None:
    """A broker that cannot start yet (database down) makes /readyz say so; it is retried."""
    try:
        await state.broker.start()
    except BrokerUnavailable as exc:
        environment_warning(log, "raptor.broker.start_failed", state.settings.environment, reason=exc.reason)


def _start_maintenance(state: RaptorState) -> asyncio.Task[None] | None:
    interval = state.settings.maintenance_interval_seconds
    if interval <= 0:
        return None
    return asyncio.create_task(maintenance.run_forever(state, interval), name="raptor-maintenance")
