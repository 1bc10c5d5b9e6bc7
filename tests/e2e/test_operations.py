"""Alerts and traces with real processes: the topology of ``raxx up`` (Raptor staging and prod,
the console, the monitor: each its own process) exporting spans to a local OTLP/HTTP receiver
and alerts to a local webhook."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from raxx.local.up import Topology, start_topology
from tests.console.helpers import order_form
from tests.fixtures.apps import csrf_from
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.receiver import Receiver, alert_receiver
from tests.fixtures.servers import ThreadedServer, serve
from tests.fixtures.topology import DEMO_PASSWORD, drop_topology_databases, topology_options

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    path: str | None


@dataclass
class OtlpReceiver:
    spans: list[ExportedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await request.body())
        found = []
        for resource_spans in export.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    path = next((a.value.string_value for a in span.attributes if a.key == "url.path"), None)
                    found.append(
                        ExportedSpan(
                            attrs.get("service.name", "?"),
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            path,
                        )
                    )
        with self.lock:
            self.spans.extend(found)
        return Response(status_code=200, media_type="application/x-protobuf")


@pytest.fixture
def otlp() -> Iterator[tuple[OtlpReceiver, ThreadedServer]]:
    receiver = OtlpReceiver()
    with serve(Starlette(routes=[Route("/v1/traces", receiver.traces, methods=["POST"])])) as server:
        yield receiver, server


@pytest.fixture
def operated_topology(
    test_databases: DatabaseFactory,
    tmp_path: Path,
    otlp: tuple[OtlpReceiver, ThreadedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Topology, Receiver]]:
    with alert_receiver() as alerts:
        # The children inherit this process's environment.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp[1].url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        monkeypatch.setenv("RAXX_ALERT_WEBHOOK_URL", alerts.url("/hook"))
        monkeypatch.setenv("GATE_ALERT_HEALTH_FAILURES", "2")
        # A start's grace (60 s by default) excuses failed probes: raptor-staging, stopped seconds
        # after its start, paged only once that minute had passed, which this test waited out. The
        # monitor starts once every service answers ready, so none needs the grace here.
        monkeypatch.setenv("GATE_MONITOR_START_GRACE", "10")
        prefix = f"rxt_{test_databases.run_id}_ops"
        options = topology_options(test_databases, tmp_path / "up", database_prefix=prefix, monitor_interval=0.5)
        with (tmp_path / "topology.log").open("w") as out:
            top = start_topology(options, out=out)
            try:
                yield top, alerts
            finally:
                top.stop()
                drop_topology_databases(test_databases.admin_url, prefix)


def until(what: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.1)


def test_an_order_is_one_trace_and_a_raptor_down_pages(
    operated_topology: tuple[Topology, Receiver], otlp: tuple[OtlpReceiver, ThreadedServer]
) -> None:
    topology, alerts = operated_topology
    receiver, _ = otlp
    coid = f"e2e-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=topology.url("console-prod"), follow_redirects=False, timeout=15) as client:
        page = client.get("/login")
        client.post("/login", data={"username": "demo", "password": DEMO_PASSWORD, "csrf_token": csrf_from(page.text)})
        csrf = csrf_from(client.get("/staging/orders").text)
        placed = client.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=coid))
        assert placed.status_code == 303, placed.text

    def order_trace() -> list[ExportedSpan] | None:
        with receiver.lock:
            spans = list(receiver.spans)
        for action in spans:
            if action.service == "raxx-console" and action.path == "/staging/orders" and action.name.startswith("POST"):
                trace = [s for s in spans if s.trace_id == action.trace_id]
                if any(s.service == "raxx-raptor" and s.path == "/v1/orders" for s in trace):
                    return trace
        return None

    until(order_trace)
    trace = order_trace()
    assert trace is not None
    [call] = [s for s in trace if s.name == "raptor POST"]
    [raptor_side] = [s for s in trace if s.service == "raxx-raptor" and s.path == "/v1/orders"]
    assert raptor_side.parent_span_id == call.span_id  # two processes, one trace, linked by traceparent
    assert "audit.append" in {s.name for s in trace}

    # Raptor staging goes away: the monitor (its own process) pages through the webhook.
    topology.supervisor.stop_child("raptor-staging")
    until(lambda: any(b["kind"] == "health.failing" for b in alerts.bodies("/hook")), timeout=60)
    [page_out] = [b for b in alerts.bodies("/hook") if b["kind"] == "health.failing"]
    assert page_out["environment"] == "staging"
    assert page_out["summary"].startswith("[STAGING] raptor-staging failed its last 2 health checks")
    assert page_out["source"] == "monitor"
