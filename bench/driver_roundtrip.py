"""Python's cost of one round trip, psycopg's cursor against ``raxx.common.prepared``, side by side.

    python bench/driver_roundtrip.py [--calls 3000] [--rounds 3]

The statement is the shape of the paper batch call: a ~460-byte JSON parameter in, three
text columns out, on the test PostgreSQL (``RAXX_TEST_DATABASE_URL``, else
127.0.0.1:5432), one process, uvloop. Each round runs every way ``--calls`` times in turn;
medians of this process's CPU and of wall time per call are printed with ratios to the
first way (the batcher's old one). Why it matters: ``bench/README.md``, "2026-11-27 (late)".
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import psycopg
import uvloop
from psycopg_pool import AsyncConnectionPool

from raxx.common.db import libpq_url
from raxx.common.prepared import PreparedQuery

DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DOCUMENT = orjson.dumps([{"symbol": "AAPL", "quantity": str(i), "note": "x" * 80} for i in range(4)])
CURSOR_SQL = "SELECT length(%s::json::text)::text, 'placed'::text, 'filled'::text"
PREPARED = PreparedQuery("raxx_bench_roundtrip", "SELECT length($1::json::text)::text, 'placed'::text, 'filled'::text")

Way = Callable[[], Awaitable[Any]]


async def measure(ways: dict[str, Way], calls: int, rounds: int) -> None:
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    wall: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                await way()
            wall[name].append((time.perf_counter() - started) / calls * 1e6)
            cpu[name].append((time.process_time() - started_cpu) / calls * 1e6)
    base = next(iter(ways))
    base_cpu, base_wall = statistics.median(cpu[base]), statistics.median(wall[base])
    print(f"{'way':<46} {'CPU us':>7} {'ratio':>6} {'wall us':>8} {'ratio':>6}")
    for name in ways:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"{name:<46} {c:>7.0f} {c / base_cpu:>6.2f} {w:>8.0f} {w / base_wall:>6.2f}")


async def main(dsn: str, calls: int, rounds: int) -> None:
    text = DOCUMENT.decode()
    async with (
        AsyncConnectionPool(dsn, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool,
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as held,
    ):

        async def cursor_from_pool() -> Any:
            async with pool.connection() as conn, conn.cursor() as cur:
                await cur.execute(CURSOR_SQL, (text,))
                return await cur.fetchone()

        async def cursor_held() -> Any:
            async with held.cursor() as cur:
                await cur.execute(CURSOR_SQL, (text,))
                return await cur.fetchone()

        async def prepared_held() -> Any:
            return await PREPARED.fetch(held, [DOCUMENT])

        await measure(
            {
                "psycopg cursor, connection from the pool": cursor_from_pool,
                "psycopg cursor, connection kept": cursor_held,
                "PreparedQuery, connection kept": prepared_held,
            },
            calls,
            rounds,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(main(libpq_url(os.environ.get("RAXX_TEST_DATABASE_URL", DEFAULT_ADMIN)), args.calls, args.rounds))
