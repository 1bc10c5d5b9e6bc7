"""The console's Overview with one million orders in Raptor's database: p95 and medians.

    flock /tmp/raxx-bench.lock python bench/overview.py [--orders 1000000] [--rounds 7] [--requests 60]

Builds throw-away databases on the test PostgreSQL (``RAXX_TEST_DATABASE_URL``, else
127.0.0.1:5432; a superuser URL): Raptor staging holding ``--orders`` orders loaded
set-wise with ``generate_series`` (spread over 100 days, so about 1 % were placed today; 1 %
open, 3 % rejected with one of three reasons, the rest filled), the console's database and
the ledger with a release board. Raptor staging is served by uvicorn in a thread; the
console runs in this process over ASGI, signed in as an admin.

Measures, interleaved per round, each ``--requests`` times, medians of the rounds' p50 and p95:

* **baseline**: ``SELECT 1`` through Raptor's engine (a pooled session, as a panel's query);
* **summary_query**: the orders panel's one statement (``order.repository.summary``);
* **raptor_summary**: ``GET /v1/orders/summary`` on Raptor over HTTP (token, session, query, JSON);
* **overview_page**: the console's whole ``GET /staging/`` (identity, the three Raptor panels,
  the ledger's board, the last audit event, concurrently; then the template).

Goal: the Overview's p95 under 50 ms. Everything made is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import uvicorn
from sqlalchemy import text

from raxx.common.db import create_engine, session_factory
from raxx.common.migrations import upgrade
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database
from raxx.common.secrets import EnvironSecrets
from raxx.console.app import create_app as create_console_app
from raxx.console.auth import service as auth_service
from raxx.console.config import ConsoleSettings
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.config import RaptorSettings
from raxx.raptor.order import repository as orders
from raxx.raptor.token.service import issue_token_sync

PASSWORD = "numbers at a glance passphrase 2026"
GOAL_P95_MS = 50.0

LOAD_ORDERS = """
INSERT INTO orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price, status,
                    filled_quantity, filled_avg_price, fills, reject_reason, created_at, updated_at, filled_at,
                    token_id, actor, request_id)
SELECT gen_random_uuid(), 'bench-' || i, (ARRAY['AAPL','MSFT','IBM','XOM','GE'])[1 + i %% 5],
       CASE WHEN i %% 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'day', 1, 10,
       CASE WHEN i %% 100 = 0 THEN 'new' WHEN i %% 100 < 4 THEN 'rejected' ELSE 'filled' END,
       CASE WHEN i %% 100 >= 4 THEN 1 ELSE 0 END, CASE WHEN i %% 100 >= 4 THEN 10 END,
       CASE WHEN i %% 100 >= 4
            THEN jsonb_build_array(jsonb_build_object('quantity', '1', 'price', '10', 'at', '2026-01-01T00:00:00Z'))
            ELSE '[]'::jsonb END,
       CASE WHEN i %% 100 IN (1, 2, 3) THEN (ARRAY['insufficient buying power: needs 10',
            'insufficient position: selling 1', 'symbol not tradable: halted'])[i %% 100] END,
       t, t, CASE WHEN i %% 100 >= 4 THEN t END, 'bench', 'bench', 'bench-' || i
FROM generate_series(1, %(n)s) i,
     LATERAL (SELECT now() - (%(n)s - i) * (interval '100 days' / %(n)s) AS t) s
"""


@contextmanager
def databases(admin_url: str) -> Iterator[dict[str, ProvisionedDatabase]]:
    run = secrets.token_hex(3)
    made: dict[str, ProvisionedDatabase] = {}
    roles: list[str] = []
    try:
        for tree in ("raptor", "console", "ledger"):
            owner, runtime = f"rxbench_{run}_{tree}_owner", f"rxbench_{run}_{tree}_app"
            roles += [runtime, owner]
            made[tree] = provision_database(
                admin_url,
                database=f"rxbench_{run}_{tree}",
                owner=owner,
                owner_password=run + "o",
                runtime=runtime,
                runtime_password=run + "r",
            )
            upgrade(tree, made[tree].owner_url, runtime_url=made[tree].runtime_url)
        yield made
    finally:
        for db in made.values():
            drop_database(admin_url, db.database)
        for role in roles:
            drop_role(admin_url, role)


@contextmanager
def served(app: object) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def load(dbs: dict[str, ProvisionedDatabase], count: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(dbs["raptor"].owner_url, autocommit=True) as conn:
        conn.execute(LOAD_ORDERS, {"n": count})
        conn.execute("VACUUM ANALYZE orders")
    board = {
        "generated_at": datetime.now(UTC).isoformat(),
        "deployments": [
            {"service": "raptor-staging", "app": "raptor", "environment": "staging", "current": None, "previous": None}
        ],
    }
    with psycopg.connect(dbs["ledger"].owner_url, autocommit=True) as conn:
        conn.execute("INSERT INTO release_board (id, generated_at, body) VALUES (1, now(), %s)", (json.dumps(board),))
    return time.perf_counter() - started


async def timed(work: Callable[[], Awaitable[object]], requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


async def measure(dbs: dict[str, ProvisionedDatabase], raptor_url: str, token: str, args: argparse.Namespace) -> None:
    engine = create_engine(dbs["raptor"].runtime_url, application_name="bench-overview", pool_size=2)
    sessions = session_factory(engine)
    registry = Path(tempfile.mkdtemp()) / "environments.toml"
    registry.write_text(
        'default = "staging"\n[environments.staging]\nlabel = "STAGING"\ncolor = "#b45309"\n'
        f'raptor_url = "{raptor_url}"\ntoken_secret = "RAPTOR_TOKEN_STAGING"\nprotected = false\n'
    )
    settings = ConsoleSettings(
        database_url=dbs["console"].runtime_url,
        migration_database_url=dbs["console"].owner_url,
        environments_file=registry,
        secret_key="bench-secret-key-" + "x" * 32,
        release="bench",
        ledger_database_url=dbs["ledger"].runtime_url,
    )
    async with session_factory(create_engine(dbs["console"].owner_url, application_name="b", pool_size=1))() as s:
        await auth_service.create_user(s, "olivia", PASSWORD, {"staging": "admin"})
        await s.commit()
    console = create_console_app(settings, secrets=EnvironSecrets({"RAPTOR_TOKEN_STAGING": token}))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def baseline() -> None:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))

    async def summary_query() -> None:
        async with sessions() as session:
            await orders.summary(session, day=day)

    results: dict[str, list[tuple[float, float]]] = {}
    async with (
        console.router.lifespan_context(console),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=console), base_url="http://console") as web,
        httpx.AsyncClient(base_url=raptor_url, headers={"Authorization": f"Bearer {token}"}) as raptor,
    ):
        page = await web.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        await web.post("/login", data={"username": "olivia", "password": PASSWORD, "csrf_token": csrf})

        async def raptor_summary() -> None:
            assert (await raptor.get("/v1/orders/summary")).status_code == 200

        async def overview_page() -> None:
            response = await web.get("/staging/")
            assert response.status_code == 200, response.status_code
            assert "data-number" in response.text  # the panels rendered, not an error page

        cases = {
            "baseline": baseline,
            "summary_query": summary_query,
            "raptor_summary": raptor_summary,
            "overview_page": overview_page,
        }
        for work in cases.values():  # warm-up: pools, caches, identity
            await timed(work, 3)
        for _ in range(args.rounds):
            for name, work in cases.items():
                samples = await timed(work, args.requests)
                results.setdefault(name, []).append((statistics.median(samples), p95(samples)))
    await engine.dispose()
    base = statistics.median(m for m, _ in results["baseline"])
    print(f"\n{args.orders:,} orders; {args.rounds} rounds x {args.requests} requests; medians of rounds\n")
    print("| measure | p50 ms | p95 ms | p50 ratio vs baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name, rounds in results.items():
        med = statistics.median(m for m, _ in rounds)
        high = statistics.median(p for _, p in rounds)
        print(f"| {name} | {med:.2f} | {high:.2f} | {med / base:.1f} |")
    overview_p95 = statistics.median(p for _, p in results["overview_page"])
    verdict = "met" if overview_p95 < GOAL_P95_MS else "NOT met"
    print(f"\nGoal (Overview p95 < {GOAL_P95_MS:.0f} ms): {verdict} ({overview_p95:.1f} ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    admin = os.environ.get("RAXX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with databases(admin) as dbs:
        print(f"loaded {args.orders:,} orders in {load(dbs, args.orders):.1f} s", flush=True)
        token = issue_token_sync(dbs["raptor"].runtime_url, environment="staging", scopes=["read"], name="bench")
        raptor = create_raptor_app(
            RaptorSettings(
                environment="staging",
                database_url=dbs["raptor"].runtime_url,
                migration_database_url=dbs["raptor"].owner_url,
                release="bench",
                development=True,
                maintenance_interval_seconds=0,
            )
        )
        with served(raptor) as url:
            asyncio.run(measure(dbs, url, token, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
