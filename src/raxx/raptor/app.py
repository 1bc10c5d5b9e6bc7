"""Raptor's app factory. Nothing happens at import time; the lifespan owns the engine."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from raxx.common.asgi import RequestIdMiddleware, install_json_error_handlers
from raxx.common.clock import utcnow
from raxx.common.db import create_engine, session_factory
from raxx.common.logging import log_event
from raxx.common.migrations import script_heads
from raxx.raptor.config import RaptorSettings
from raxx.raptor.health.endpoints import router as health_router
from raxx.raptor.state import RaptorState

log = logging.getLogger("raxx.raptor")


def create_app(settings: RaptorSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            application_name=f"raptor-{settings.environment}",
            pool_size=settings.db_pool_size,
        )
        app.state.raptor = RaptorState(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            started_at=utcnow(),
            migration_heads=script_heads("raptor"),
        )
        log_event(log, "raptor.start.ok", environment=settings.environment, release=settings.release)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title=f"Raptor ({settings.environment})",
        version=settings.release,
        description="The Raptor trading API. One codebase, one deployment per environment.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    install_json_error_handlers(app)
    app.include_router(health_router)
    return app
