"""A Raptor process's Alpaca broker in a box, for tests that need real OS processes.

``python -m tests.raptor.alpaca_worker DATABASE_URL ALPACA_URL KEY SECRET LIMIT WINDOW_S SECONDS TASKS DIR``

The broker as Raptor builds it (``factory.alpaca_broker``: settings, a driver pool on
DATABASE_URL, the account's budget shared through that database). Once its pool is
connected it touches ``DIR/ready-PID``, waits for ``DIR/go``, then reads the account from
TASKS concurrent tasks for SECONDS and prints ``{"ok": N, "refused": N}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from raxx.raptor.broker.base import BrokerUnavailable
from raxx.raptor.broker.factory import alpaca_broker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import DriverPool


async def hammer(settings: RaptorSettings, seconds: float, tasks: int, folder: Path) -> dict[str, int]:
    pool: DriverPool = AsyncConnectionPool(
        settings.database_url, min_size=2, max_size=2, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    broker = alpaca_broker(settings, pool)
    counts = {"ok": 0, "refused": 0}
    (folder / f"ready-{os.getpid()}").touch()
    while not (folder / "go").exists():
        await asyncio.sleep(0.005)
    deadline = time.monotonic() + seconds

    async def reader() -> None:
        while time.monotonic() < deadline:
            try:
                await broker.account()
                counts["ok"] += 1
            except BrokerUnavailable:
                counts["refused"] += 1

    try:
        await asyncio.gather(*(reader() for _ in range(tasks)))
    finally:
        await broker.close()
        await pool.close()
    return counts


if __name__ == "__main__":
    url, alpaca_url, key, secret, limit, window_s, seconds, tasks, folder = sys.argv[1:]
    configured = RaptorSettings(
        environment="staging",
        database_url=url,
        broker="alpaca",
        alpaca_base_url=alpaca_url,
        alpaca_api_key_id=key,
        alpaca_api_secret_key=secret,
        alpaca_rate_limit=int(limit),
        alpaca_rate_window_s=float(window_s),
    )
    print(json.dumps(asyncio.run(hammer(configured, float(seconds), int(tasks), Path(folder)))))
