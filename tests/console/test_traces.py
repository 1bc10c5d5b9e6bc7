"""Traces across the console and Raptor: one console action is one trace, over real HTTP.

Both apps run in this process, each behind its own real uvicorn server (threads), exporting to
one in-memory exporter; nothing links the two but the ``traceparent`` header on the wire. With
tracing off the header still travels, carrying the request id as its trace id, unsampled."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from raxx.common import tracing
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.token.service import issue_token_sync
from tests.console.conftest import PASSWORD, QUIET
from tests.console.helpers import order_form, signed_in
from tests.console.test_api import bearer, new_token
from tests.fixtures.apps import add_user, console_app, raptor_settings, write_registry
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.servers import ThreadedServer, serve


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)


@pytest.fixture
def traced_raptor(spans: InMemorySpanExporter, test_databases: DatabaseFactory) -> Iterator[tuple[ThreadedServer, str]]:
    db = test_databases.fresh("raptor")
    token = issue_token_sync(db.runtime_url, environment="staging", scopes=["read", "trade"], name="console")
    with serve(create_raptor_app(raptor_settings(db, "staging", **QUIET))) as server:
        yield server, token


def _one_trace(found: list[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in found if s.context is not None and s.context.trace_id == trace_id]


def _server_span(found: list[ReadableSpan], method: str, path: str) -> ReadableSpan:
    """The one server span of ``method path`` (a span of the request before may end after
    the client had its answer, so the method tells them apart too)."""
    [span] = [
        s
        for s in found
        if s.kind is SpanKind.SERVER
        and s.attributes
        and (s.attributes.get("http.request.method"), s.attributes.get("url.path")) == (method, path)
    ]
    return span


async def _console(
    db: ProvisionedDatabase, tmp_path: Path, raptor: tuple[ThreadedServer, str], *, fast_paths: bool = True
) -> tuple[FastAPI, Path]:
    server, token = raptor
    registry = write_registry(tmp_path / "envs.toml", {"staging": server.url, "prod": "http://127.0.0.1:9"})
    app = console_app(db, registry, {"staging": token, "prod": "none"})
    if not fast_paths:
        app.fast_paths = ()  # type: ignore[attr-defined]
    return app, registry


async def test_placing_an_order_is_one_trace_across_console_and_raptor(
    spans: InMemorySpanExporter,
    traced_raptor: tuple[ThreadedServer, str],
    console_db: ProvisionedDatabase,
    tmp_path: Path,
) -> None:
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
    app, _ = await _console(console_db, tmp_path, traced_raptor)
    with serve(app) as console:
        async with httpx.AsyncClient(base_url=console.url) as browser:
            csrf = await signed_in(browser)
            spans.clear()
            placed = await browser.post("/staging/orders", data=order_form(csrf, "staging", symbol="MSFT"))
            assert placed.status_code == 303, placed.text

    found = list(spans.get_finished_spans())
    action = _server_span(found, "POST", "/staging/orders")
    assert action.context is not None
    trace = _one_trace(found, action.context.trace_id)
    names = sorted(s.name for s in trace)
    [call] = [s for s in trace if s.name == "raptor POST"]
    raptor_side = _server_span(found, "POST", "/v1/orders")
    appends = [s for s in trace if s.name == "audit.append"]

    assert raptor_side in trace, names  # Raptor's span continues the console's trace...
    assert raptor_side.parent is not None
    assert call.context is not None
    assert raptor_side.parent.span_id == call.context.span_id  # ...under the call that reached it
    assert call.kind is SpanKind.CLIENT
    assert call.attributes is not None
    assert call.attributes["http.response.status_code"] == 201
    assert call.parent is not None
    assert action.context is not None
    assert len(appends) >= 2  # the attempt before the call, the outcome after
    assert {a.attributes["raxx.audit.phase"] for a in appends if a.attributes} >= {"attempt", "outcome"}
    assert all(a.parent is not None for a in appends)
    # Nothing of this action is in another trace.
    assert [
        s.name for s in found if s not in trace and s.attributes and s.attributes.get("url.path") == "/v1/orders"
    ] == []


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast-path", "routed"])
async def test_both_api_doors_carry_the_trace_to_raptor(
    fast_paths: bool,
    spans: InMemorySpanExporter,
    traced_raptor: tuple[ThreadedServer, str],
    console_db: ProvisionedDatabase,
    tmp_path: Path,
) -> None:
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
    token = await new_token(console_db, "alice")
    app, _ = await _console(console_db, tmp_path, traced_raptor, fast_paths=fast_paths)
    with serve(app) as console:
        async with httpx.AsyncClient(base_url=console.url, headers=bearer(token)) as client:
            assert (await client.get("/api/staging/account")).status_code == 200  # identity is fresh after this
            spans.clear()
            assert (await client.get("/api/staging/orders", params={"limit": 5})).status_code == 200
    found = list(spans.get_finished_spans())
    read = _server_span(found, "GET", "/api/staging/orders")
    assert read.context is not None
    trace = _one_trace(found, read.context.trace_id)
    [call] = [s for s in trace if s.name == "raptor GET"]
    raptor_side = _server_span(found, "GET", "/v1/orders")
    assert raptor_side in trace
    assert raptor_side.parent is not None
    assert call.context is not None
    assert raptor_side.parent.span_id == call.context.span_id


def _recording_backend(seen: list[dict[str, str]]) -> FastAPI:
    backend = FastAPI()

    @backend.middleware("http")
    async def record(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path != "/v1/identity":
            seen.append(dict(request.headers))
        return await call_next(request)

    @backend.get("/v1/identity")
    async def identity() -> dict[str, str]:
        return {"environment": "staging", "release": "r1", "database": "x:1", "started_at": "2026-11-26T00:00:00Z"}

    @backend.get("/v1/orders")
    async def orders() -> list[object]:
        return []

    return backend


@pytest.mark.parametrize("fast_paths", [True, False], ids=["fast-path", "routed"])
async def test_without_tracing_the_request_id_travels_as_an_unsampled_trace(
    fast_paths: bool, console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    assert not tracing.active()
    seen: list[dict[str, str]] = []
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
    token = await new_token(console_db, "alice")
    with serve(_recording_backend(seen)) as backend:
        app, _ = await _console(console_db, tmp_path, (backend, "tok"), fast_paths=fast_paths)
        with serve(app) as console:
            async with httpx.AsyncClient(base_url=console.url, headers=bearer(token)) as client:
                await client.get("/api/staging/orders")
                answer = await client.get("/api/staging/orders")
    request_id = answer.headers["x-request-id"]
    version, trace_id, parent_id, flags = seen[-1]["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", request_id, "00")
    assert len(parent_id) == 16
    assert seen[-1]["x-request-id"] == request_id


def test_the_sdk_is_not_loaded_unless_an_endpoint_is_configured() -> None:
    probe = (
        "import sys, raxx.console.app, raxx.raptor.app;"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk') or 'exporter' in m))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
