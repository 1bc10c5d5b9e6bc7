"""What the shared Alpaca request budget costs per request, against a bare round trip.

    RAXX_TEST_DATABASE_URL=... PYTHONPATH=src python bench/broker_budget.py [--calls 2000] [--rounds 5]

A throw-away Raptor database (migrated), one process, a pool like Raptor's driver pool.
Each round runs, ``--calls`` times each, in turn:

* **baseline**: ``SELECT 1`` through a connection from the pool (checkout + round trip);
* **take**: ``SharedBudget.take()`` with a budget too large to ever make it wait
  (checkout + the reservation: row lock, two index lookups, an update of an UNLOGGED row);
* **take_4**: the same from 4 concurrent tasks on a pool of 4, one row for all (what
  contention on the account's row costs), per call.

Medians of wall and CPU time per call over the rounds, with ratios to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from scratch import scratch_database

from raxx.common.db import libpq_url
from raxx.raptor.broker.budget import BudgetRate, SharedBudget

Way = Callable[[], Awaitable[None]]


async def timed(way: Way, calls: int, tasks: int) -> tuple[float, float]:
    """(wall us, CPU us) per call, ``calls`` calls spread over ``tasks`` tasks."""
    started, started_cpu = time.perf_counter(), time.process_time()

    async def run(share: int) -> None:
        for _ in range(share):
            await way()

    await asyncio.gather(*(run(calls // tasks) for _ in range(tasks)))
    return (time.perf_counter() - started) / calls * 1e6, (time.process_time() - started_cpu) / calls * 1e6


async def measure(url: str, calls: int, rounds: int) -> None:
    async with AsyncConnectionPool(url, min_size=4, max_size=4, kwargs={"autocommit": True}, open=False) as pool:
        await pool.wait()
        typed: AsyncConnectionPool[AsyncConnection[Any]] = pool
        budget = SharedBudget(typed, name="alpaca:bench", rate=BudgetRate(1e-9, 10**9), max_wait_s=1.0)

        async def baseline() -> None:
            async with pool.connection() as conn:
                await (await conn.execute("SELECT 1")).fetchone()

        ways: dict[str, tuple[Way, int]] = {
            "baseline": (baseline, 1),
            "take": (budget.take, 1),
            "take_4": (budget.take, 4),
        }
        wall: dict[str, list[float]] = {name: [] for name in ways}
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for way, tasks in ways.values():  # warm-up: plans, prepared statements
            await timed(way, 200, tasks)
        for _ in range(rounds):
            for name, (way, tasks) in ways.items():
                w, c = await timed(way, calls, tasks)
                wall[name].append(w)
                cpu[name].append(c)
    base_wall, base_cpu = statistics.median(wall["baseline"]), statistics.median(cpu["baseline"])
    print(f"{'way':<10} {'wall us':>8} {'ratio':>6} {'CPU us':>7} {'ratio':>6}   per round (wall us)")
    for name in ways:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        each = " ".join(f"{x:.0f}" for x in wall[name])
        print(f"{name:<10} {w:>8.0f} {w / base_wall:>6.2f} {c:>7.0f} {c / base_cpu:>6.2f}   {each}")


def main(args: argparse.Namespace) -> None:
    with scratch_database("raptor") as db:
        asyncio.run(measure(libpq_url(db.runtime_url), args.calls, args.rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    main(parser.parse_args())
