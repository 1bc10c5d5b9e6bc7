"""Running async work from synchronous code (CLI commands, ``raxx up``); resolving waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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


def settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a waiter's future (a batcher's caller) unless it gave up waiting (a timeout,
    a client that went away): setting a done future raises."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
