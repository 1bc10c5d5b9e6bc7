"""The metrics catalogue against its documentation and the Grafana dashboard, the scrape
token, route labels, and ``/metrics`` of an app with no token configured."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from raxx.common import metrics
from raxx.common.errors import NotFound
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.apps import raptor_client

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "raxx-dashboard.json"
SERIES = re.compile(r"\braxx_[a-z0-9_]+")


def test_the_docs_list_every_metric_as_the_catalogue_says() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text()
    documented = [line for line in docs.splitlines() if line.startswith("| `raxx_")]
    assert documented == metrics.catalogue_rows()


def test_the_catalogue_names_the_documented_metrics_of_the_issue() -> None:
    wanted = {
        "raxx_http_requests": ("counter", {"route", "status_class", "environment"}),
        "raxx_http_request_duration_seconds": ("histogram", {"route", "environment"}),
        "raxx_orders_submitted": ("counter", {"environment"}),
        "raxx_orders_refused": ("counter", {"environment", "reason"}),
        "raxx_orders_cancelled": ("counter", {"environment"}),
        "raxx_token_cross_environment_refusals": ("counter", {"environment"}),
        "raxx_identity_checks": ("counter", {"environment", "result"}),
        "raxx_identity_mismatches": ("counter", {"environment"}),
        "raxx_audit_append_duration_seconds": ("histogram", {"environment"}),
        "raxx_audit_attempts_without_outcome": ("gauge", {"environment"}),
        "raxx_audit_chain_verified_seq": ("gauge", set()),
        "raxx_health_samples": ("counter", {"environment", "result"}),
        "raxx_release_current": ("gauge", {"environment", "release"}),
        "raxx_soak_seconds": ("gauge", {"environment"}),
        "raxx_soak_required_seconds": ("gauge", {"environment"}),
        "raxx_approvals_pending": ("gauge", {"environment"}),
        "raxx_trading_halted": ("gauge", {"environment"}),
    }
    for name, (kind, labels) in wanted.items():
        info = metrics.CATALOGUE[name]
        assert info.kind == kind, name
        assert labels <= set(info.labels), name


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_the_dashboard_parses_and_queries_only_catalogued_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "raxx-overview"
    assert dashboard["title"]
    queried: set[str] = set()
    for expr in _expressions(dashboard):
        assert expr.count("(") == expr.count(")"), expr
        queried |= set(SERIES.findall(expr))
    known = set(metrics.CATALOGUE)
    unknown = set()
    for series in queried:
        info = metrics.CATALOGUE.get(re.sub(r"_(total|bucket|count|sum)$", "", series))
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
        if info is None or not any(series == info.name + s for s in suffixes[info.kind]):
            unknown.add(series)
    assert unknown == set(), f"the dashboard queries series the catalogue does not have: {unknown}"
    # Short, but it covers what an operator looks at first.
    for name in (
        "raxx_http_requests",
        "raxx_http_request_duration_seconds",
        "raxx_orders_submitted",
        "raxx_orders_refused",
        "raxx_identity_mismatches",
        "raxx_audit_append_duration_seconds",
        "raxx_soak_seconds",
        "raxx_trading_halted",
    ):
        assert name in known, name
        assert any(q.startswith(name) for q in queried), name
    assert len(dashboard["panels"]) <= 30


@pytest.mark.parametrize("configured", [None, SecretStr("")])
def test_no_configured_token_means_no_endpoint(configured: SecretStr | None) -> None:
    with pytest.raises(NotFound):
        metrics.check_scrape_token(configured, "Bearer anything")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic c2VjcmV0", "secret", "Bearer secretX"])
def test_a_missing_or_wrong_token_is_refused(header: str | None) -> None:
    with pytest.raises(metrics.ScrapeTokenRequired) as refused:
        metrics.check_scrape_token(SecretStr("secret"), header)
    assert refused.value.status_code == 401
    assert refused.value.headers()["WWW-Authenticate"].startswith("Bearer")


def test_the_configured_token_passes() -> None:
    metrics.check_scrape_token(SecretStr("secret"), "Bearer secret")
    metrics.check_scrape_token(SecretStr("secret"), "bearer secret")


def test_routes_are_named_by_template_never_by_path() -> None:
    class Route:
        path = "/v1/orders/{order_id}"

    assert metrics.route_of({"route": Route()}) == "/v1/orders/{order_id}"
    assert metrics.route_of({metrics.ROUTE_KEY: "/v1/orders", "route": Route()}) == "/v1/orders"
    assert metrics.route_of({"path": "/anything/123"}) == "unmatched"


async def test_raptor_without_a_scrape_token_has_no_metrics_endpoint(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db) as client:
        response = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        unknown = await client.get("/v1/no-such-thing/123")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert unknown.status_code == 404
    scraped = metrics.exposition().decode()
    assert 'route="unmatched"' in scraped
    assert "/v1/no-such-thing" not in scraped


async def test_raptor_with_a_scrape_token_refuses_others(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db, metrics_token=SecretStr("tok")) as client:
        refused = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        served = await client.get("/metrics", headers={"Authorization": "Bearer tok"})
    assert refused.status_code == 401
    assert refused.json()["error"] == "scrape_token_required"
    assert served.status_code == 200
    assert 'raxx_trading_halted{environment="staging"} 0.0' in served.text
