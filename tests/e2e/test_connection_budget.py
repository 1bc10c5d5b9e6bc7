"""The connection budget with real processes, the way Heroku runs Raptor on essential-0.

One role with ``CONNECTION LIMIT 20`` owns the database (Heroku's one credential), ``raxx
release`` migrates it, ``raxx web`` serves it with ``WEB_CONCURRENCY=2`` and the budget
declared as config vars, a one-off holds two connections the whole time, and 64 clients
submit orders (some also list and read them back) for a few seconds. Nothing may answer
``too many connections``, nothing but a rare 503 may be a 5xx, the log holds no traceback,
and every accepted order is stored. A formation that cannot fit refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psycopg
import pytest
from psycopg import sql

from raxx.common.db import libpq_url
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database
from raxx.raptor.token.service import issue_token_sync
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.web import web_process

pytestmark = pytest.mark.e2e

LIMIT = 20
CLIENTS = 64
LOAD_SECONDS = 8.0
ONE_OFF_HOLDS = 2


def heroku_env(db_url: str, **extra: str) -> dict[str, str]:
    """A dyno's environment: the app's config vars only (no test settings leaking in)."""
    prefixes = ("RAPTOR_", "CONSOLE_", "GATE_", "INFISICAL_", "RAXX_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in ("DATABASE_URL",)}
    return {
        **base,
        "RAXX_APP": "raptor",
        "DATABASE_URL": db_url.replace("postgresql://", "postgres://", 1),  # Heroku's form
        "RAPTOR_ENVIRONMENT": "staging",
        "RAPTOR_PAPER_STARTING_CASH": "1000000000",
        "RAXX_DB_CONNECTION_LIMIT": str(LIMIT),
        "WEB_CONCURRENCY": "2",
        **extra,
    }


@pytest.fixture
def limited_db(test_databases: DatabaseFactory) -> Iterator[ProvisionedDatabase]:
    """An empty database whose owner role (the app's one credential) has CONNECTION LIMIT 20."""
    tag = f"rxt_{test_databases.run_id}_budget_{secrets.token_hex(3)}"
    owner, runtime = f"{tag}_owner", f"{tag}_app"
    db = provision_database(
        test_databases.admin_url,
        database=tag,
        owner=owner,
        owner_password="owner-" + tag,
        runtime=runtime,
        runtime_password="app-" + tag,
    )
    with psycopg.connect(libpq_url(test_databases.admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(owner), LIMIT))
    try:
        yield db
    finally:
        drop_database(test_databases.admin_url, tag)
        with psycopg.connect(libpq_url(test_databases.admin_url), autocommit=True) as conn:
            for role in (owner, runtime):
                conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        for role in (owner, runtime):
            drop_role(test_databases.admin_url, role)


def run_raxx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raxx", *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


@dataclass
class Load:
    statuses: Counter[int] = field(default_factory=Counter)
    bodies_5xx: list[str] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    dropped: int = 0
    busy_without_retry_after: int = 0


async def client_loop(session: aiohttp.ClientSession, url: str, n: int, load: Load, stop_at: float) -> None:
    """One client: mostly submissions, every fourth request a list or a read of its last order."""
    sent = 0
    last: str | None = None
    while time.monotonic() < stop_at:
        sent += 1
        try:
            if sent % 4 == 0:
                path = f"/v1/orders/{last}" if last and sent % 8 == 0 else "/v1/orders?limit=20"
                async with session.get(url + path) as response:
                    status, text, headers = response.status, await response.text(), response.headers
            else:
                body = {"symbol": ("AAPL", "MSFT", "NVDA")[sent % 3], "side": "buy", "type": "market"}
                body |= {"quantity": "1", "client_order_id": f"budget-{n}-{sent}"}
                async with session.post(url + "/v1/orders", json=body) as response:
                    status, text, headers = response.status, await response.text(), response.headers
                    if status == 201:
                        last = (await response.json())["id"]
                        load.created.add(last)
        except (TimeoutError, aiohttp.ClientError):
            load.dropped += 1
            continue
        load.statuses[status] += 1
        if status >= 500:
            load.bodies_5xx.append(text)
            if status == 503 and "Retry-After" not in headers:
                load.busy_without_retry_after += 1


async def hammer(url: str, token: str) -> Load:
    load = Load()
    headers = {"Authorization": f"Bearer {token}", "X-Raxx-Actor": "budget-test"}
    timeout = aiohttp.ClientTimeout(total=30)  # the Heroku router's limit
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as session:
        stop_at = time.monotonic() + LOAD_SECONDS
        await asyncio.gather(*(client_loop(session, url, n, load, stop_at) for n in range(CLIENTS)))
    return load


def peak_connections(admin_url: str, role: str, stop: list[bool], seen: list[int]) -> None:
    """Sample how many backends the role holds (a superuser connection, outside the limit)."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        while not stop:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()
            seen.append(row[0] if row else 0)
            time.sleep(0.05)


def test_two_workers_at_the_connection_limit_wait_instead_of_failing(
    limited_db: ProvisionedDatabase, test_databases: DatabaseFactory, tmp_path: Path
) -> None:
    env = heroku_env(limited_db.owner_url)
    release = run_raxx("release", env=env)
    assert release.returncode == 0, release.stderr
    stated = events(release.stderr, "db.budget.ok")  # it states its own connections, and checks the web's
    assert [(e["holder"], e["pools"]) for e in stated] == [
        ("release phase", {"migrations": 2}),
        ("raptor web worker", {"request": 3, "driver": 3, "venue": 2}),
    ]
    token = issue_token_sync(limited_db.owner_url, environment="staging", scopes=["read", "trade"], name="budget")

    log = tmp_path / "web.log"
    one_off: list[psycopg.Connection[tuple[object, ...]]] = []
    with web_process(env, log, ready_path="/readyz") as url:
        try:
            one_off = [psycopg.connect(libpq_url(limited_db.owner_url)) for _ in range(ONE_OFF_HOLDS)]
            for conn in one_off:
                conn.execute("BEGIN; SELECT 1")  # held open, as `heroku run` or psql would
            stop: list[bool] = []
            seen: list[int] = []
            watcher = threading.Thread(
                target=peak_connections, args=(test_databases.admin_url, owner_of(limited_db), stop, seen)
            )
            watcher.start()
            try:
                load = asyncio.run(hammer(url, token))
            finally:
                stop.append(True)
                watcher.join()
        finally:
            for conn in one_off:
                conn.close()
    text = log.read_text()

    total = sum(load.statuses.values())
    print(f"budget load: {dict(load.statuses)}, {len(load.created)} orders, peak {max(seen, default=0)} of {LIMIT}")
    print(Counter(load.bodies_5xx).most_common(3), [e["pool"] for e in events(log.read_text(), "db.connection.busy")])
    assert total > 300, load.statuses  # enough load to matter on this shared machine
    assert set(load.statuses) <= {200, 201, 503}, (load.statuses, load.bodies_5xx[:3])
    assert load.statuses[503] <= total * 0.01, (load.statuses, load.bodies_5xx[:3])
    assert load.busy_without_retry_after == 0
    assert load.dropped == 0
    everything = text + "\n".join(load.bodies_5xx)
    assert "too many connections" not in everything
    assert "Traceback" not in text
    # Each worker said what it holds: 8 of the 20 (3 + 3 + 2).
    workers = [(e["holder"], e["pools"], e["limit"]) for e in events(text, "db.budget.ok")]
    assert workers == [("raptor web worker", {"request": 3, "driver": 3, "venue": 2}, LIMIT)] * 2, text[-3000:]
    assert seen
    assert max(seen) <= LIMIT
    with psycopg.connect(test_databases.superuser_url(limited_db.database)) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM orders WHERE id = ANY(%s::uuid[])", (list(load.created),)
        ).fetchone()
    assert stored == (len(load.created),)
    assert len(load.created) == load.statuses[201]


def events(output: str, name: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``output`` whose event is ``name``."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == name:
                found.append(record)
    return found


def owner_of(db: ProvisionedDatabase) -> str:
    return str(httpx.URL(db.owner_url).username)


def test_a_formation_that_cannot_fit_refuses_to_start_and_to_release(limited_db: ProvisionedDatabase) -> None:
    env = heroku_env(limited_db.owner_url, WEB_CONCURRENCY="4", RAXX_DB_PLAN="essential-0")
    env.pop("RAXX_DB_CONNECTION_LIMIT")
    for command in (("web", "--port", str(free_port())), ("release",)):
        result = run_raxx(*command, env=env)
        assert result.returncode == 78, (command, result.stdout, result.stderr)
        refusal = [line for line in result.stderr.splitlines() if line.startswith("raxx: ")]
        assert refusal == [
            "raxx: raptor database: plan essential-0 (20), reserved 4 (release phase 2, one-off 2), "
            "16 left for 4 web workers: 4 each; a raptor web worker needs at least 5 (request 2, driver 2, venue 1): "
            "lower WEB_CONCURRENCY or RAXX_WEB_DYNOS, or use a larger plan"
        ], result.stderr
        assert "Traceback" not in result.stderr
