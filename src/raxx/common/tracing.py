"""Traces: W3C ``traceparent`` on every call from the console to Raptor, and OpenTelemetry spans
when an OTLP endpoint is configured.

Off by default, and then nothing but a header is made: the OpenTelemetry SDK and its exporter
are imported only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set, so
the hot paths and the command line's start-up pay nothing for it. The API package
(``opentelemetry-api``) is there anyway: FastAPI's own telemetry layer imports it.

Configured, each app (``create_app``) gets one ``TracerProvider`` (service name, environment)
exporting over OTLP/HTTP in batches. FastAPI's telemetry layer then opens the server span of
each request, continuing the caller's ``traceparent``, around both doors (it sits outside the
fast paths); ``span`` opens our own (the audit append, the Raptor call) under it; and
``traceparent`` writes the header that carries the Raptor call's span to Raptor, whose server
span continues it. One console action is then one trace across both processes.

Off, the console still sends a ``traceparent`` whose trace id is the request id (a UUIDv7 is
32 hex digits, as a trace id is), flagged not sampled: a proxy or a Raptor that traces sees
which console request a call belongs to, and records nothing for it.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_TRACE_ID = re.compile("[0-9a-f]{32}")
_ZERO_TRACE = "0" * 32

_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def configured() -> bool:
    return any(os.environ.get(var) for var in ENDPOINT_VARS)


def setup(service: str, **resource: str) -> TracerProvider | None:
    """The process's provider: the one in use, else a new one exporting to the configured OTLP
    endpoint, else None (tracing off). ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``
    override what is given here, as everywhere in OpenTelemetry."""
    if _provider is not None or not configured():
        return _provider
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {"service.name": service, **resource}
    if os.environ.get("OTEL_SERVICE_NAME"):
        attributes.pop("service.name")
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use(provider)
    return provider


def use(provider: TracerProvider | None) -> None:
    """Trace with ``provider`` from now on in this process (None: stop). Tests hand one that
    exports to memory."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer("raxx") if provider is not None else None


def active() -> bool:
    return _tracer is not None


def provider() -> TracerProvider | None:
    return _provider


def fastapi_telemetry() -> dict[str, Any] | None:
    """``FastAPI(telemetry=...)``: server spans from our provider, nothing else (metrics are
    Prometheus's, logs ours). None when tracing is off: FastAPI's defaults, which do nothing
    while no OpenTelemetry provider is set up."""
    if _provider is None:
        return None
    return {"tracer_provider": _provider, "metrics": False, "logs": False, "operation_spans": False}


@contextmanager
def span(name: str, *, client: bool = False, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
    """A span under the current one (None and nothing recorded when tracing is off)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {})) as current:
        yield current


def traceparent(current: Span | None, request_id: str) -> str:
    """The ``traceparent`` header value for a call made inside ``current`` (a span, or None when
    tracing is off: then the trace id is the request id and nothing is sampled)."""
    if current is not None:
        context = current.get_span_context()
        if context.is_valid:
            return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    # A parent id needs to be unique, not secret: the PRNG, not a system call, on this hot path.
    return f"00-{trace_id_of(request_id)}-{random.getrandbits(64) or 1:016x}-00"


def trace_id_of(request_id: str) -> str:
    """A request id as a trace id: itself when it is one (32 lowercase hex digits, not all zero),
    else a digest of it (a caller's own request id)."""
    if _TRACE_ID.fullmatch(request_id) and request_id != _ZERO_TRACE:
        return request_id
    return hashlib.blake2b(request_id.encode(), digest_size=16).hexdigest()


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()
