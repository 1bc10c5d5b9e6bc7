"""``/metrics`` of real processes after real traffic, parsed with prometheus_client's own parser.

Raptor runs as the Procfile runs it, ``raxx web`` with ``WEB_CONCURRENCY=2``: every request
comes on a new connection, so both workers serve some, and every scrape (answered by
either worker) must count all of them. The console runs as ``raxx web`` too, in front of
that Raptor, with a registry entry (``qa``) pointing at it to make an identity mismatch.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from raxx.common import metrics
from raxx.common.db import create_engine, session_factory
from raxx.common.provision import ProvisionedDatabase
from raxx.console.apitoken import service as apitoken_service
from raxx.console.audit.keys import SigningKey
from raxx.raptor.token.service import issue_token_sync
from tests.fixtures.apps import add_user, write_registry
from tests.fixtures.web import web_process

pytestmark = pytest.mark.e2e

SCRAPE_TOKEN = "scrape-token-for-the-test-0123456789"
DIRECT_ORDERS = 24  # through Raptor's fast path
ROUTED_ORDERS = 4  # through its routed endpoint (a content type the fast path leaves alone)
CONSOLE_ORDERS = 3  # through the console's API (audited: an attempt and an outcome each)
CONSOLE_READS = 10
#: Raptor's and the console's route templates: a label value must be one of them (never a raw path).
ID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}|[0-9a-f]{32}|rx_")


def dyno_env(**extra: str) -> dict[str, str]:
    """A dyno's environment: its config vars only (no test settings leaking in)."""
    prefixes = ("RAPTOR_", "CONSOLE_", "GATE_", "INFISICAL_", "RAXX_", "PROMETHEUS_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in ("DATABASE_URL",)}
    return {**base, **extra}


def fresh() -> httpx.Client:
    """A client that opens a new connection per request, so the kernel spreads them over workers."""
    return httpx.Client(timeout=20, limits=httpx.Limits(max_keepalive_connections=0))


def scrape(url: str, token: str = SCRAPE_TOKEN) -> dict[str, list[Sample]]:
    with fresh() as client:
        response = client.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(families: dict[str, list[Sample]], sample_name: str, **labels: str) -> float:
    """The sum of the samples named ``sample_name`` whose labels include ``labels``."""
    name = re.sub(r"_(total|count|sum|bucket)$", "", sample_name)
    return sum(
        s.value
        for s in families.get(name, [])
        if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def assert_bounded(families: dict[str, list[Sample]], environments: set[str]) -> None:
    """Every family is in the catalogue; no label value is an id; environments are known ones."""
    ours = {name for name in families if name.startswith("raxx_")}
    assert ours <= set(metrics.CATALOGUE), ours - set(metrics.CATALOGUE)
    for name in ours:
        for sample in families[name]:
            assert set(sample.labels) - {"le", "dyno"} == set(metrics.CATALOGUE[name].labels), sample
            for key, label in sample.labels.items():
                assert not ID_LIKE.search(label), (name, key, label)
            if "environment" in sample.labels:
                assert sample.labels["environment"] in environments, sample
            if "route" in sample.labels:
                assert sample.labels["route"].startswith("/") or sample.labels["route"] == "unmatched", sample


def assert_refused_without_token(url: str) -> None:
    with fresh() as client:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": SCRAPE_TOKEN}):
            response = client.get(url + "/metrics", headers=headers)
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "scrape_token_required"
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "raxx_" not in response.text


def _workers(multiproc: Path) -> set[str]:
    """The processes that wrote metrics (one file per process and metric type)."""
    return {f.name.rsplit("_", 1)[1] for f in multiproc.glob("counter_*.db")}


def order(n: int, **extra: str) -> dict[str, str]:
    return {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1", "client_order_id": f"m-{n}", **extra}


@pytest.fixture
def raptor(raptor_db: ProvisionedDatabase, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_999999.db").write_bytes(b"stale: from a previous run of this dyno")
    env = dyno_env(
        RAXX_APP="raptor",
        DATABASE_URL=raptor_db.runtime_url,
        RAPTOR_ENVIRONMENT="staging",
        RAPTOR_PAPER_STARTING_CASH="1000000000",
        RAPTOR_METRICS_TOKEN=SCRAPE_TOKEN,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        DYNO="web.1",  # as Heroku names it
    )
    with web_process(env, tmp_path / "raptor.log", ready_path="/readyz") as url:
        yield url, multiproc
    # Stopped (SIGTERM): each worker marked itself dead on the way out, dropping its live
    # gauge (requests in flight); what it counted stays.
    assert list(multiproc.glob("gauge_livesum_*.db")) == []
    assert list(multiproc.glob("counter_*.db"))


def test_raptor_with_two_workers_reports_one_truth(raptor: tuple[str, Path], raptor_db: ProvisionedDatabase) -> None:
    url, multiproc = raptor
    token = issue_token_sync(raptor_db.owner_url, environment="staging", scopes=["read", "trade", "admin"], name="m")
    prod_token = issue_token_sync(raptor_db.owner_url, environment="prod", scopes=["read"], name="elsewhere")
    auth = {"Authorization": f"Bearer {token}"}
    assert not (multiproc / "counter_999999.db").exists(), "a stale file from a previous run was not cleaned"
    assert_refused_without_token(url)

    with fresh() as client, ThreadPoolExecutor(8) as pool:  # concurrent: both workers accept some
        posted = pool.map(lambda n: client.post(url + "/v1/orders", json=order(n), headers=auth), range(DIRECT_ORDERS))
        assert [r.status_code for r in posted] == [201] * DIRECT_ORDERS
        assert client.post(url + "/v1/orders", json=order(0), headers=auth).status_code == 200  # a replay
        routed = {**auth, "Content-Type": "application/json; charset=utf-8"}
        for n in range(ROUTED_ORDERS):
            body = httpx.Request("POST", "/", json=order(100 + n)).content
            assert client.post(url + "/v1/orders", content=body, headers=routed).status_code == 201
        open_order = client.post(
            url + "/v1/orders", json=order(200, type="limit", limit_price="1.00"), headers=auth
        ).json()
        assert client.delete(f"{url}/v1/orders/{open_order['id']}", headers=auth).status_code == 200
        assert client.post(url + "/v1/trading/halt", json={"reason": "metrics test"}, headers=auth).status_code == 200
        assert client.post(url + "/v1/orders", json=order(300), headers=auth).status_code == 409
        assert client.get(url + "/v1/orders", headers={"Authorization": f"Bearer {prod_token}"}).status_code == 401
        assert client.get(url + "/v1/orders/" + "0" * 32, headers=auth).status_code in (404, 422)
        # Which worker accepts a connection is the kernel's choice: read until both have served.
        lists, deadline = 0, time.monotonic() + 30
        while len(_workers(multiproc)) < 2 and time.monotonic() < deadline:
            read = pool.map(lambda _: client.get(url + "/v1/orders?limit=5", headers=auth), range(8))
            assert [r.status_code for r in read] == [200] * 8
            lists += 8
    assert len(_workers(multiproc)) == 2, f"both workers should have served requests: {_workers(multiproc)}"
    first, second = scrape(url), scrape(url)
    for families in (first, second):  # whichever worker answers, the same totals
        submitted = DIRECT_ORDERS + ROUTED_ORDERS + 1  # + the open limit order
        assert value(families, "raxx_orders_submitted_total", environment="staging") == submitted
        assert value(families, "raxx_orders_refused_total", environment="staging", reason="trading_halted") == 1
        assert value(families, "raxx_orders_cancelled_total", environment="staging") == 1
        assert value(families, "raxx_token_cross_environment_refusals_total", environment="staging") == 1
        assert value(families, "raxx_trading_halted", environment="staging") == 1
        posts = value(families, "raxx_http_requests_total", method="POST", route="/v1/orders", status_class="2xx")
        assert posts == submitted + 1  # and the replay
        read = value(families, "raxx_http_requests_total", method="GET", route="/v1/orders", status_class="2xx")
        assert read == lists  # the list fast path counts too
        timed = value(families, "raxx_http_request_duration_seconds_count", method="POST", route="/v1/orders")
        assert timed == submitted + 2  # every POST, the refused one included
        assert value(families, "raxx_app_info", app="raptor", environment="staging") == 1
        assert_bounded(families, {"staging"})
    # On Heroku each scrape reaches any dyno: the event series say which one counted.
    assert {s.labels.get("dyno") for s in first["raxx_orders_submitted"]} == {"web.1"}
    assert {s.labels.get("dyno") for s in first["raxx_trading_halted"]} == {None}  # state: the same from any dyno
    unmatched = value(first, "raxx_http_requests_total", route="/v1/orders/{order_id}", status_class="4xx")
    assert unmatched == 1  # the template, never the id that was asked for


def test_console_counts_reads_audit_and_identity(
    raptor: tuple[str, Path], raptor_db: ProvisionedDatabase, console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    raptor_url, _ = raptor
    raptor_token = issue_token_sync(raptor_db.owner_url, environment="staging", scopes=["read", "trade"], name="c")
    registry = write_registry(tmp_path / "environments.toml", {"staging": raptor_url, "qa": raptor_url})
    asyncio.run(add_user(console_db, "mia", "a long metrics passphrase", {"staging": "operator", "qa": "viewer"}))
    api_token = asyncio.run(_api_token(console_db, "mia"))
    env = dyno_env(
        RAXX_APP="console",
        DATABASE_URL=console_db.runtime_url,
        CONSOLE_ENVIRONMENTS_FILE=str(registry),
        CONSOLE_SECRET_KEY="metrics-test-secret-key-" + "s" * 32,
        CONSOLE_AUDIT_SIGNING_KEY=SigningKey.generate().compact(),
        CONSOLE_METRICS_TOKEN=SCRAPE_TOKEN,
        RAPTOR_TOKEN_STAGING=raptor_token,
        RAPTOR_TOKEN_QA=raptor_token,
    )
    auth = {"Authorization": f"Bearer {api_token}"}
    with web_process(env, tmp_path / "console.log") as url:
        assert_refused_without_token(url)
        with fresh() as client:
            assert client.get(url + "/api/staging/identity", headers=auth).status_code == 200
            for _ in range(CONSOLE_READS):
                assert client.get(url + "/api/staging/orders", headers=auth).status_code == 200
            for n in range(CONSOLE_ORDERS):
                placed = client.post(url + "/api/staging/orders", json=order(500 + n), headers=auth)
                assert placed.status_code == 201, placed.text
            refused = client.get(url + "/api/qa/orders", headers=auth)
            assert refused.status_code >= 400
        families = scrape(url)

    reads = value(families, "raxx_http_requests_total", route="/api/{env}/orders", method="GET", environment="staging")
    assert reads == CONSOLE_READS
    for phase in ("attempt", "outcome"):
        appended = value(
            families, "raxx_audit_append_duration_seconds_count", environment="staging", phase=phase, result="ok"
        )
        assert appended == CONSOLE_ORDERS, phase
    assert value(families, "raxx_audit_append_duration_seconds_count", result="failed") == 0
    assert value(families, "raxx_audit_attempts_without_outcome", environment="staging") == 0
    assert value(families, "raxx_audit_head_seq") >= 2 * CONSOLE_ORDERS
    assert value(families, "raxx_identity_checks_total", environment="staging", result="ok") >= 1
    assert value(families, "raxx_identity_checks_total", environment="qa", result="misconfigured") >= 1
    assert value(families, "raxx_identity_mismatches_total", environment="qa") >= 1
    assert value(families, "raxx_identity_mismatches_total", environment="staging") == 0
    assert_bounded(families, {"staging", "qa", "none"})
    raptor_families = scrape(raptor_url)
    assert value(raptor_families, "raxx_orders_submitted_total", environment="staging") == CONSOLE_ORDERS


async def _api_token(db: ProvisionedDatabase, user: str) -> str:
    engine = create_engine(db.owner_url, application_name="test", pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            made = await apitoken_service.create(
                session, user_name=user, name="metrics", expires_days=None, environments=["staging", "qa"]
            )
            return made.plaintext
    finally:
        await engine.dispose()
