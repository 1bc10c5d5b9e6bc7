"""Prometheus metrics: the catalogue, the HTTP middleware and the scrape endpoint.

Every series Raxx exports is declared here, once, with its type, labels and meaning:
``docs/operations.md`` lists :data:`CATALOGUE` (a test compares them) and the Grafana
dashboard may only query names that are in it. Two kinds:

* *event* metrics (counters, histograms, one live gauge), changed where the event happens;
  with ``PROMETHEUS_MULTIPROC_DIR`` set (``raxx web`` sets it when it runs several workers)
  each worker writes them to a memory-mapped file there and a scrape of any worker adds
  them up, so ``WEB_CONCURRENCY > 1`` reports one truth;
* *state* gauges (:class:`StateGauge`), read from the database when scraped (halt state,
  attempts without outcome, soak progress, ...): every worker reads the same rows, so they
  need no coordination and are never stale.

Labels are bounded: route templates (never raw paths), status classes, refusal codes,
environment names from configuration. Never ids, user names or free text.

``/metrics`` answers only a caller presenting the scrape token (``Authorization: Bearer``,
compared in constant time); with no token configured it does not exist (404).
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raxx.common.contracts.board import ReleaseBoard
from raxx.common.errors import NotFound, Unauthorized

MULTIPROC_VAR = "PROMETHEUS_MULTIPROC_DIR"
#: Heroku names each dyno (``web.1``, ``web.2``): the event metrics carry it as ``dyno``.
DYNO_VAR = "DYNO"
METRICS_PATH = "/metrics"
#: How long a scrape waits for the database behind a state gauge: Prometheus gives up after 10 s
#: by default, and an answer without those series beats none.
SCRAPE_DB_TIMEOUT_S = 3.0
Kind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True)
class MetricInfo:
    """One catalogue entry: what ``docs/operations.md`` says about a metric."""

    name: str
    kind: Kind
    labels: tuple[str, ...]
    meaning: str
    #: Which processes export it: raptor, console, monitor.
    exported_by: tuple[str, ...]


#: Every metric Raxx exports, by name (without the ``_total``/``_bucket`` suffixes).
CATALOGUE: dict[str, MetricInfo] = {}
#: The in-process registry (one worker); in multiprocess mode the files are read instead.
REGISTRY = CollectorRegistry(auto_describe=True)
#: Latency buckets (seconds): the fast paths answer in about a millisecond, the router gives up at 30 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _declare(name: str, kind: Kind, labels: Sequence[str], meaning: str, exported_by: Sequence[str]) -> None:
    CATALOGUE[name] = MetricInfo(name, kind, tuple(labels), meaning, tuple(exported_by))


def counter(name: str, meaning: str, labels: Sequence[str], *, by: Sequence[str]) -> Counter:
    _declare(name, "counter", labels, meaning, by)
    return Counter(name, meaning, labels, registry=REGISTRY)


def histogram(name: str, meaning: str, labels: Sequence[str], *, by: Sequence[str]) -> Histogram:
    _declare(name, "histogram", labels, meaning, by)
    return Histogram(name, meaning, labels, registry=REGISTRY, buckets=LATENCY_BUCKETS)


def live_gauge(name: str, meaning: str, labels: Sequence[str], *, by: Sequence[str]) -> Gauge:
    """A gauge changed where the event happens; over several workers, the live ones' sum."""
    _declare(name, "gauge", labels, meaning, by)
    return Gauge(name, meaning, labels, registry=REGISTRY, multiprocess_mode="livesum")


class StateGauge:
    """A gauge read from the database at scrape time (its value is whatever the rows say)."""

    def __init__(self, name: str, meaning: str, labels: Sequence[str], *, by: Sequence[str]) -> None:
        _declare(name, "gauge", labels, meaning, by)
        self.name, self.meaning, self.labels = name, meaning, list(labels)

    def family(self, samples: Iterable[tuple[Sequence[str], float]]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(self.name, self.meaning, labels=self.labels)
        for values, value in samples:
            family.add_metric([str(v) for v in values], value)
        return family


# -- the catalogue ------------------------------------------------------------------------------

APPS = ("raptor", "console")
HTTP_REQUESTS = counter(
    "raxx_http_requests",
    "HTTP requests answered, by route template and status class (both doors: fast paths and routed)",
    ["app", "environment", "method", "route", "status_class"],
    by=APPS,
)
HTTP_DURATION = histogram(
    "raxx_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template",
    ["app", "environment", "method", "route"],
    by=APPS,
)
HTTP_IN_FLIGHT = live_gauge(
    "raxx_http_requests_in_flight",
    "Requests being answered now, summed over the live workers of the process",
    ["app"],
    by=APPS,
)
APP_INFO = StateGauge(
    "raxx_app_info", "1, labelled with the release this process runs", ["app", "environment", "release"], by=APPS
)

# Raptor
ORDERS_SUBMITTED = counter(
    "raxx_orders_submitted",
    "Orders accepted and recorded (new ones; an idempotent replay is not counted)",
    ["environment"],
    by=["raptor"],
)
ORDERS_REFUSED = counter(
    "raxx_orders_refused",
    "Order submissions refused by Raptor, by reason (the error code: trading_halted, idempotency_conflict, ...)",
    ["environment", "reason"],
    by=["raptor"],
)
ORDERS_CANCELLED = counter(
    "raxx_orders_cancelled", "Orders cancelled (one each, also by cancel-all)", ["environment"], by=["raptor"]
)
CROSS_ENV_REFUSALS = counter(
    "raxx_token_cross_environment_refusals",
    "Tokens refused because they were issued for another environment",
    ["environment"],
    by=["raptor"],
)
TRADING_HALTED = StateGauge(
    "raxx_trading_halted", "1 while trading is halted in the environment, else 0", ["environment"], by=["raptor"]
)

# The console
IDENTITY_CHECKS = counter(
    "raxx_identity_checks",
    "The console's checks of a backend's identity, by result (ok, misconfigured, unreachable)",
    ["environment", "result"],
    by=["console"],
)
IDENTITY_MISMATCHES = counter(
    "raxx_identity_mismatches",
    "Identity checks where the backend named another environment (nothing was sent to it)",
    ["environment"],
    by=["console"],
)
AUDIT_APPEND = histogram(
    "raxx_audit_append_duration_seconds",
    "Audit appends (attempts, outcomes, events) and how long each took, by phase and result (ok, failed)",
    ["environment", "phase", "result"],
    by=["console"],
)
AUDIT_OPEN_ATTEMPTS = StateGauge(
    "raxx_audit_attempts_without_outcome",
    "Audit attempts with no outcome yet (in flight, or left by a crash until the reconciler closes them)",
    ["environment"],
    by=["console"],
)
AUDIT_HEAD = StateGauge("raxx_audit_head_seq", "Sequence number of the newest audit event", [], by=["console"])
AUDIT_VERIFIED = StateGauge(
    "raxx_audit_chain_verified_seq",
    "The audit chain is verified up to this sequence number (the newest signed checkpoint)",
    [],
    by=["console"],
)

# The release gate (the monitor; the console too when it reads the ledger)
GATE = ("monitor", "console")
HEALTH_SAMPLES = counter(
    "raxx_health_samples",
    "Health samples the monitor recorded, by result (ok, failed, starting)",
    ["app", "environment", "result"],
    by=["monitor"],
)
HEALTH_SAMPLES_24H = StateGauge(
    "raxx_health_samples_24h",
    "Health samples in the ledger over the last 24 h by result (ok, failed; starting ones left out): the board's",
    ["app", "environment", "result"],
    by=GATE,
)
RELEASE_INFO = StateGauge(
    "raxx_release_current",
    "1 for the release each deployment runs, as the ledger recorded it",
    ["app", "environment", "release"],
    by=GATE,
)
SOAK_SECONDS = StateGauge(
    "raxx_soak_seconds",
    "Seconds the release has soaked in the environment, toward its promotion to target",
    ["app", "environment", "target", "release"],
    by=GATE,
)
SOAK_REQUIRED = StateGauge(
    "raxx_soak_required_seconds",
    "Seconds of soak the policy requires before that promotion",
    ["app", "environment", "target", "release"],
    by=GATE,
)
APPROVALS_PENDING = StateGauge(
    "raxx_approvals_pending",
    "Valid approvals recorded for the release soaking toward the environment, not yet used by a promotion",
    ["app", "environment"],
    by=GATE,
)


def board_families(board: ReleaseBoard) -> list[Metric]:
    """The release gate's state gauges, from the board the monitor publishes every round."""
    release, soaked, required, pending, health = [], [], [], [], []
    for d in board.deployments:
        if d.current is not None:
            release.append(((d.app, d.environment, d.current.release), 1.0))
        if d.soak is not None:
            key = (d.app, d.environment, d.soak.target_environment, d.soak.release)
            soaked.append((key, float(d.soak.elapsed_seconds)))
            required.append((key, float(d.soak.window_seconds)))
            pending.append(((d.app, d.soak.target_environment), float(sum(a.valid for a in d.approvals))))
        ok = sum(p.ok for p in d.health)
        health += [
            ((d.app, d.environment, "ok"), ok),
            ((d.app, d.environment, "failed"), sum(p.samples for p in d.health) - ok),
        ]
    return [
        RELEASE_INFO.family(release),
        SOAK_SECONDS.family(soaked),
        SOAK_REQUIRED.family(required),
        APPROVALS_PENDING.family(pending),
        HEALTH_SAMPLES_24H.family(health),
    ]


def catalogue_rows() -> list[str]:
    """The catalogue as the Markdown table rows ``docs/operations.md`` shows (a test compares)."""
    rows = []
    for info in sorted(CATALOGUE.values(), key=lambda i: i.name):
        series = f"{info.name}_total" if info.kind == "counter" else info.name
        labels = ", ".join(f"`{label}`" for label in info.labels) or "none"
        rows.append(f"| `{series}` | {info.kind} | {labels} | {info.meaning} | {', '.join(info.exported_by)} |")
    return rows


# -- requests -----------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Set by a fast path on the scope when it answers (routing, which names the route, did not run).
ROUTE_KEY = "raxx.route"


def route_of(scope: Scope) -> str:
    """The route template that answered: a fast path's, the router's, or ``unmatched``."""
    named = scope.get(ROUTE_KEY)
    if named is not None:
        return str(named)
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path is not None else "unmatched"


class HttpMetricsMiddleware:
    """Pure ASGI: counts each request by route template and status class, and times it.

    Outermost, so both doors (fast paths and routing) and every refusal are counted. The
    label children are cached per (environment, method, route, class): the set is bounded by
    the route table, and a cached child costs one dict lookup on the hot path."""

    def __init__(self, app: ASGIApp, *, app_name: str, environment_of: Callable[[Scope], str]) -> None:
        self.app = app
        self.app_name = app_name
        self.environment_of = environment_of
        self.in_flight = HTTP_IN_FLIGHT.labels(app_name)
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # a crash that sent nothing is the server's error

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_counting)
        finally:
            self.in_flight.dec()
            method = scope["method"] if scope["method"] in _METHODS else "other"
            key = (self.environment_of(scope), method, route_of(scope), f"{status // 100}xx")
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    HTTP_REQUESTS.labels(self.app_name, *key),
                    HTTP_DURATION.labels(self.app_name, *key[:3]),
                )
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


# -- the scrape endpoint ------------------------------------------------------------------------


class ScrapeTokenRequired(Unauthorized):
    code = "scrape_token_required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="metrics"'}


def check_scrape_token(configured: SecretStr | None, authorization: str | None) -> None:
    """Let the scrape through only with the configured token (constant-time comparison).

    No token configured: the endpoint does not exist (404), so an app nobody set up for
    scraping shows nothing. A missing or wrong token: 401."""
    expected = configured.get_secret_value().encode() if configured is not None else b""
    if not expected:
        raise NotFound("metrics are not enabled here (no scrape token is configured)")
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
        raise ScrapeTokenRequired("metrics need the scrape token: Authorization: Bearer <token>")


def exposition(state: Iterable[Metric] = ()) -> bytes:
    """The text format: the event metrics (every worker's, in multiprocess mode) and ``state``."""
    from prometheus_client import disable_created_metrics, multiprocess

    disable_created_metrics()  # type: ignore[no-untyped-call]  # one worker or several, the same series
    path = os.environ.get(MULTIPROC_VAR)
    if path:
        files = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(files, path)  # type: ignore[no-untyped-call]
        events = list(files.collect())
    else:
        events = list(REGISTRY.collect())
    dyno = os.environ.get(DYNO_VAR)
    if dyno:
        events = [_labelled(family, dyno) for family in events]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([*events, *state]))
    return generate_latest(registry)


def _labelled(family: Metric, dyno: str) -> Metric:
    """The family with ``dyno`` on each sample: the Heroku router sends each scrape to any
    dyno of the app, and each dyno counts from its own start."""
    family.samples = [s._replace(labels={**s.labels, "dyno": dyno}) for s in family.samples]
    return family


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def metrics_router(
    *,
    token_of: Callable[[Request], SecretStr | None],
    state_of: Callable[[Request], Awaitable[Sequence[Metric]]],
) -> APIRouter:
    """``GET /metrics`` for an app: ``token_of`` gives its scrape token, ``state_of`` its state gauges.

    Not in the OpenAPI documents (scripts do not call it; Prometheus does), but in each app's
    ``ROUTERS``, so the door tables and the route walks see it."""
    router = APIRouter(tags=["metrics"])

    @router.get(METRICS_PATH, include_in_schema=False)
    async def metrics(request: Request) -> Response:
        check_scrape_token(token_of(request), request.headers.get("authorization"))
        return Response(exposition(await state_of(request)), media_type=CONTENT_TYPE_LATEST)

    return router
