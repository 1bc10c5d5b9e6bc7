"""The console's app factory. Nothing runs at import time; the lifespan builds clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware import Middleware

from raxx.common import tracing
from raxx.common.alerts import AlertDispatcher, Alerts
from raxx.common.alerts.sinks import alert_settings
from raxx.common.asgi import READ_METHODS, RequestIdMiddleware
from raxx.common.bodylimit import BodyLimit
from raxx.common.clock import utcnow
from raxx.common.db import create_engine, session_factory
from raxx.common.doors import DoorsApp, FastPath
from raxx.common.logging import log_event, log_pools
from raxx.common.metrics import HttpMetricsMiddleware
from raxx.common.secrets import SecretsProvider
from raxx.console import api
from raxx.console.api_fast import ApiReadFastPath
from raxx.console.apitoken.service import ApiTokenVerifier
from raxx.console.audit.background import start_audit_tasks
from raxx.console.audit.checkpoint import checkpoint_keys
from raxx.console.audit.events import AuditContext
from raxx.console.audit.service import AuditTrail
from raxx.console.auth.oidc import ClientConfig, OidcClient
from raxx.console.auth.service import LoginPolicy
from raxx.console.config import ConsoleSettings
from raxx.console.errors import install_console_error_handlers
from raxx.console.halt_watch import watch_halts
from raxx.console.metrics import environment_of
from raxx.console.monitor_watch import watch_the_monitor
from raxx.console.pages import (
    alerts,
    audit,
    auth,
    compare,
    home,
    metrics,
    oidc,
    orders,
    portfolio,
    release_actions,
    releases,
    switcher,
    theme,
    tokens,
    trading,
    users,
)
from raxx.console.raptor.client import RaptorClients
from raxx.console.raptor.identity import IdentityStatus, RaptorBackend
from raxx.console.security import SecurityHeadersMiddleware
from raxx.console.state import ConsoleState
from raxx.console.templating import build_templates

log = logging.getLogger("raxx.console")
#: The console's doors (``raxx.common.doors``): each routed endpoint a fast path stands in
#: front of, with the requests it answers itself; it hands all others to that endpoint, and
#: every other request goes to ``ROUTERS``. Both doors are inside the app's middleware
#: (request id, security headers) and its 500 page, and both call Raptor through the same
#: client (``raptor/client.py``). docs/engineering.md shows this table rendered.
FAST_PATHS: tuple[FastPath, ...] = (
    FastPath(
        ApiReadFastPath,
        serves=dict.fromkeys(
            (api.list_orders, api.get_order, api.positions, api.account, api.trading),
            "when the token is valid, its role may read there and the backend's identity is fresh",
        ),
    ),
)
#: Every router the console serves, in matching order (tests walk this table).
ROUTERS: tuple[APIRouter, ...] = (
    api.router,  # first: the JSON API's reads are the hot path, and routes are matched in order
    theme.router,
    auth.router,
    oidc.router,
    switcher.router,
    audit.router,
    compare.router,
    releases.router,
    alerts.router,
    release_actions.router,
    tokens.router,
    orders.router,
    portfolio.router,
    trading.router,
    users.router,
    metrics.router,  # GET /metrics, for Prometheus with the scrape token (before the catch-all)
    home.router,  # last: its /{env} catch-all redirect must not shadow the others
)
STATIC_DIR = __file__.rsplit("/", 1)[0] + "/static"


def oidc_client(settings: ConsoleSettings) -> OidcClient | None:
    """The identity provider's client, or None when single sign-on is off."""
    if settings.oidc_issuer is None or settings.oidc_client_id is None:
        return None
    config = ClientConfig(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scopes=settings.oidc_scopes,
        groups_claim=settings.oidc_groups_claim,
        username_claim=settings.oidc_username_claim,
        clock_skew=timedelta(seconds=settings.oidc_clock_skew_s),
        jwks_refresh=timedelta(seconds=settings.oidc_jwks_refresh_s),
    )
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.raptor_timeout_s, connect=settings.raptor_connect_timeout_s)
    )
    return OidcClient(config, http)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def login_policy(settings: ConsoleSettings) -> LoginPolicy:
    return LoginPolicy(
        delay_after=settings.login_delay_after,
        lockout_after=settings.login_lockout_after,
        window=timedelta(minutes=settings.login_window_minutes),
        session_lifetime=timedelta(hours=settings.session_hours),
        idle_timeout=timedelta(minutes=settings.session_idle_minutes),
    )


async def _identity_watch(clients: RaptorClients, interval: float) -> None:
    """Re-check every backend's identity in the background so banners stay current."""
    while True:
        with contextlib.suppress(Exception):
            await clients.refresh_identities()
        await asyncio.sleep(interval)


def _record_mismatches(clients: RaptorClients, trail: AuditTrail, outbox: Alerts) -> None:
    """Record and alert each time a backend starts naming another environment (found by any identity
    check, including the background one and pages that show a panel instead of failing); resolve the
    alert when it names its own again."""

    async def on_mismatch(client: RaptorBackend, status: IdentityStatus) -> None:
        says = status.identity.environment if status.identity else None
        await outbox.raise_alert(
            "identity.mismatch",
            environment=client.environment,
            summary=f"Raptor at {client.spec.raptor_url} says it is {says!r}; the console sends it no credentials",
            details={"raptor_url": client.spec.raptor_url, "backend_says": says, "error": status.error},
            dedup_key=identity_alert_key(client.environment),
        )
        try:
            await trail.record(
                AuditContext(environment=client.environment),
                "identity.mismatch",
                outcome="failed",
                target=client.spec.raptor_url,
                params={"backend_says": says},
                error=status.error,
            )
        except Exception as exc:  # the refusal to send stands either way; the log says the record failed
            log_event(log, "audit.mismatch.unrecorded", level=logging.ERROR, error=type(exc).__name__)

    async def on_recovery(client: RaptorBackend, status: IdentityStatus) -> None:
        await outbox.resolve_alert(identity_alert_key(client.environment))

    for client in clients.values():
        client.on_mismatch = on_mismatch
        client.on_recovery = on_recovery


def identity_alert_key(environment: str) -> str:
    return f"identity.mismatch:console:{environment}"


def create_app(settings: ConsoleSettings, *, secrets: SecretsProvider | None = None) -> FastAPI:
    registry = settings.load_registry()  # a bad registry refuses to start, before serving anything
    provider = secrets or settings.secrets_provider()
    pools = settings.pools()  # a formation the connection budget cannot fit refuses here too
    ledger_pools = settings.ledger_pools()
    audit_keys = checkpoint_keys(provider)  # so does a checkpoint key that cannot sign
    tracing.setup("raxx-console")  # None unless OTEL_EXPORTER_OTLP_ENDPOINT is set
    alert_settings()  # a bad RAXX_ALERT_* refuses to start, like every other setting

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, application_name="console", pool_size=pools["app"])
        log_pools(log, pools, *([ledger_pools] if ledger_pools else []))
        tokens = {name: provider.get(spec.token_secret) for name, spec in registry.items()}
        clients = RaptorClients.build(
            registry,
            tokens,
            timeout_s=settings.raptor_timeout_s,
            connect_timeout_s=settings.raptor_connect_timeout_s,
            identity_ttl_s=settings.identity_ttl_s,
        )
        trail = AuditTrail(engine)
        outbox = Alerts(engine, source="console")
        sso = oidc_client(settings)
        _record_mismatches(clients, trail, outbox)
        await clients.start()
        app.state.console = ConsoleState(
            settings=settings,
            registry=registry,
            engine=engine,
            sessions=session_factory(engine),
            clients=clients,
            templates=build_templates(),
            login_policy=login_policy(settings),
            started_at=utcnow(),
            audit=trail,
            api_tokens=ApiTokenVerifier(engine, cache_seconds=settings.api_token_cache_s),
            audit_keys=audit_keys,
            alerts=outbox,
            oidc=sso,
        )
        watcher = asyncio.create_task(_identity_watch(clients, settings.identity_ttl_s))
        audit_tasks = start_audit_tasks(engine, clients, settings, audit_keys, outbox)
        if settings.ledger_database_url:  # the monitor's board is read from the ledger: watch it age
            audit_tasks.append(asyncio.create_task(watch_the_monitor(app.state.console, outbox)))
        # A halt in a protected environment pages whoever made it (a script, another tool) and a
        # resume anywhere resolves it.
        audit_tasks.append(asyncio.create_task(watch_halts(app.state.console, outbox)))
        # Sends this database's alert outbox, woken by each alert raised here (and every 15 s for
        # the ones `raxx audit verify` and other instances record).
        audit_tasks.append(asyncio.create_task(AlertDispatcher(engine).run(outbox.queued)))
        log_event(log, "console.start.ok", release=settings.release, environments=list(registry))
        try:
            yield
        finally:
            for task in (watcher, *audit_tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await clients.close()
            tracing.flush()
            if sso is not None:
                await sso.http.aclose()
            ledger = app.state.console.extras.get("ledger_engine")
            if ledger is not None:
                await ledger.dispose()
            await engine.dispose()

    app = DoorsApp(
        title="Raxx console",
        version=settings.release,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        fast_paths=FAST_PATHS,
        # Both doors: no body over the limit is read (a 60 MB order body was read and parsed whole).
        entrance=[Middleware(BodyLimit, max_body=settings.max_body_bytes, setting="CONSOLE_MAX_BODY_BYTES")],
        telemetry=tracing.fastapi_telemetry(),  # server spans around both doors, when tracing
    )
    app.add_middleware(
        SecurityHeadersMiddleware, form_targets=[origin_of(settings.oidc_issuer)] if settings.oidc_issuer else []
    )
    # A caller's X-Request-ID names its reads; every mutation gets an id of the console's own.
    app.add_middleware(RequestIdMiddleware, callers_for=READ_METHODS)
    # Outermost: every request of both doors is counted and timed, refusals included.
    app.add_middleware(HttpMetricsMiddleware, app_name="console", environment_of=environment_of(frozenset(registry)))
    install_console_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app
