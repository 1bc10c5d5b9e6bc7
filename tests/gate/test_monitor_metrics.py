"""``raxx monitor`` serving ``/metrics`` (``GATE_METRICS_PORT``): its health-sample counts and
the release board's gauges, scraped from the real process and parsed with prometheus_client."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from raxx.common import metrics
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.policy import load_policy
from tests.fixtures.gate import POLICY_FILE, LocalTopology, add_release, gate_context

TOKEN = "monitor-scrape-token-0123456789"


def _samples(db: ProvisionedDatabase) -> int:
    with psycopg.connect(db.runtime_url) as conn:
        row = conn.execute("SELECT count(*) FROM health_sample").fetchone()
    return int(row[0]) if row else 0


def _board(db: ProvisionedDatabase) -> dict[str, Any]:
    with psycopg.connect(db.runtime_url) as conn:
        row = conn.execute("SELECT body FROM release_board").fetchone()
    return dict(row[0]) if row else {}


async def _release(db: ProvisionedDatabase, at: datetime) -> None:
    async with gate_context(db) as ctx:
        await add_release(ctx, "raptor", "staging", "r7", at=at)


def test_the_monitor_serves_its_counts_and_the_board(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    deployed = datetime.now(UTC) - timedelta(hours=1)
    asyncio.run(_release(ledger_db, deployed))
    port = free_port()
    env = {
        **os.environ,
        "GATE_DATABASE_URL": ledger_db.runtime_url,
        "GATE_TOPOLOGY_FILE": str(fake_topology.topology_file),
        "GATE_POLICY_FILE": str(POLICY_FILE),
        "GATE_MONITOR_INTERVAL": "600",  # one round, then a scrape that sees exactly it
        "GATE_METRICS_PORT": str(port),
        "GATE_METRICS_TOKEN": TOKEN,
    }
    proc = subprocess.Popen([sys.executable, "-m", "raxx", "monitor"], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (_samples(ledger_db) and _board(ledger_db)):
            time.sleep(0.1)
        refused = httpx.get(url, timeout=5)
        scraped = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr  # the metrics server stops with the monitor
    assert refused.status_code == 401
    assert refused.json()["error"] == "scrape_token_required"
    assert scraped.status_code == 200, scraped.text
    samples = [s for f in text_string_to_metric_families(scraped.text) for s in f.samples]

    def value(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    assert value("raxx_health_samples_total") == 3  # one round: one sample per deployment
    for app, environment in (("raptor", "staging"), ("raptor", "prod"), ("console", "prod")):
        assert value("raxx_health_samples_total", app=app, environment=environment, result="ok") == 1
    assert value("raxx_release_current", app="raptor", environment="staging", release="r7") == 1
    window = load_policy(POLICY_FILE).apps["raptor"].environments["prod"].soak
    assert window is not None
    soak = {"app": "raptor", "environment": "staging", "target": "prod", "release": "r7"}
    assert value("raxx_soak_required_seconds", **soak) == window.window.total_seconds()
    staging = next(d for d in _board(ledger_db)["deployments"] if d["service"] == "raptor-staging")
    assert value("raxx_soak_seconds", **soak) == staging["soak"]["elapsed_seconds"]  # the gate's own count
    assert value("raxx_approvals_pending", app="raptor", environment="prod") == 0
    assert value("raxx_health_samples_24h", app="raptor", environment="staging", result="ok") == 1
    assert {s.name.removesuffix("_total") for s in samples if s.name.startswith("raxx_")} <= set(metrics.CATALOGUE)
