"""Running async work from synchronous code (CLI commands, ``raxx up``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
