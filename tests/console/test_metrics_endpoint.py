"""The console's ``/metrics`` in process: refusals in the JSON shape (never the HTML error page),
and the audit state read when scraped. The real processes are in ``tests/e2e/test_metrics.py``."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor, add_team, raptor_tokens
from tests.fixtures.apps import asgi_client, console_app


async def test_no_scrape_token_no_endpoint_in_the_json_shape(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> None:
    async with asgi_client(console_app(console_db, registry_file, raptor_tokens(raptors))) as client:
        response = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "not_found"


async def test_the_scrape_reads_the_audit_trail(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> None:
    await add_team(console_db)
    app = console_app(console_db, registry_file, raptor_tokens(raptors), metrics_token=SecretStr("tok"))
    async with asgi_client(app) as client:
        refused = await client.get("/metrics")
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer tok"})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.json()["error"] == "scrape_token_required"
    assert scraped.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert samples[("raxx_audit_attempts_without_outcome", (("environment", "staging"),))] == 0
    assert samples[("raxx_audit_attempts_without_outcome", (("environment", "prod"),))] == 0
    assert ("raxx_audit_head_seq", ()) in samples
    assert ("raxx_audit_chain_verified_seq", ()) in samples
    assert samples[("raxx_app_info", (("app", "console"), ("environment", "none"), ("release", "console-test")))] == 1
