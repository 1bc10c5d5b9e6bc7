"""Running async work from synchronous code (CLI commands, ``raxx up``), and background checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from raxx.common.logging import log_event

T = TypeVar("T")


def run_sync(work: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(work())``, in a worker thread when this thread already runs a loop.

    Callers such as Playwright's sync API or an ASGI test keep a loop running on the
    main thread; ``asyncio.run`` there would fail.
    """

    async def main() -> T:
        return await work()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def every(interval_s: float, check: Callable[[], Awaitable[object]], *, log: logging.Logger, failed: str) -> None:
    """``check()`` every ``interval_s`` seconds (the first one interval after the start), for as
    long as the task runs; a failed check is logged as the event ``failed`` and the next one runs
    on time: a watch must outlive a database or a backend that is away."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await check()
        except Exception as exc:
            log_event(log, failed, level=logging.WARNING, error=type(exc).__name__)
