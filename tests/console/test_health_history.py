"""The Health page's history: success and latency per bucket from the ledger, gaps as gaps, markers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, RunningRaptor, raptor_tokens
from tests.console.test_releases import board
from tests.fixtures.apps import add_user, asgi_client, console_app, login


def _load(ledger_db: ProvisionedDatabase) -> None:
    with psycopg.connect(ledger_db.owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO release_board (id, generated_at, body) VALUES (1, now(), %s)",
            (json.dumps(board().model_dump(mode="json")),),
        )
        # The last 6 hours sampled every minute, healthy but for the hour 3 h ago; nothing before.
        conn.execute(
            "INSERT INTO health_sample (deployment, observed_at, ok, latency_ms, release_seen, starting)"
            " SELECT 'raptor-staging', t, NOT (t BETWEEN now() - interval '3 h' AND now() - interval '2 h'),"
            " 10 + extract(minute FROM t), 'r2', false"
            " FROM generate_series(now() - interval '6 h', now(), interval '1 minute') t"
        )
        conn.execute(
            "INSERT INTO release (id, app, environment, release_id, commit, artifact_digest, deployed_at, deployed_by,"
            " trigger, status, finished_at, ran_migrations, features) VALUES (gen_random_uuid(), 'raptor', 'staging',"
            " 'r2', 'c', 'sha256:r2', now() - interval '5 h', 'ci', 'push', 'succeeded', now(), false, '{}')"
        )
        conn.execute(
            "INSERT INTO incident (id, app, component, severity, title, opened_at, opened_by)"
            " VALUES (gen_random_uuid(), 'raptor', 'orders', 'critical', 'fills stuck', now() - interval '150 minutes',"
            " 'pager')"
        )


async def test_health_draws_24h_and_7d_with_gaps_latency_and_markers(
    console_db: ProvisionedDatabase,
    ledger_db: ProvisionedDatabase,
    registry_file: Path,
    raptors: dict[str, RunningRaptor],
) -> None:
    _load(ledger_db)
    await add_user(console_db, "alice", PASSWORD, {"staging": "viewer"})
    app = console_app(console_db, registry_file, raptor_tokens(raptors), ledger_database_url=ledger_db.runtime_url)
    async with asgi_client(app) as client:
        await login(client, "alice", PASSWORD)
        page = await client.get("/staging/health")
    assert page.status_code == 200
    html = page.text
    start = html.index('data-service="raptor-staging"')
    section = html[start : html.index("<h2>Console</h2>")]
    day, week = re.findall(r'<figure class="history-chart" (.*?)</figure>', section, re.S)
    assert 'data-buckets="96"' in day
    assert 'data-sampled="25"' in day or 'data-sampled="24"' in day  # 6 h of 15 min buckets; the rest are gaps
    assert day.count('class="spark-gap"') >= 70  # no sample is a gap, never a success
    assert day.count('class="spark-bad"') >= 4  # the failing hour
    assert 'class="mark-deploy"' in day
    assert "deploy r2 (succeeded)" in day
    assert "incident critical: fills stuck" in day
    assert 'class="lat-p95"' in day
    assert 'class="lat-p50"' in day
    assert 'data-buckets="168"' in week
    assert "data-soak" in section  # the candidate's soak, with what blocks it
    assert "approvals: 0 of 1" in section
