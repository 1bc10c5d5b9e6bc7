"""Callers' requests that arrive while a call is running are served by the next call, together.

The pattern behind the console's audit appends and Raptor's paper submissions: the
database serializes that work (one audit chain, one paper account), so concurrent callers
gain nothing from their own round trips and commits and lose a WAL flush each. Here the
first caller starts a call at once (no timer: alone, nothing waits), whoever arrives
meanwhile is queued, and the next call takes the queue, up to ``max_batch`` items (items
a subclass gives the same ``batch_key`` go in separate calls, in arrival order). Each
caller resumes when the call that carried its item has finished, with its own result.

If a call fails, its items are run again one by one, so one item's error never fails the
others; a subclass names the failures that are the callee's rather than an item's (the
database did not answer), which fail every item of the call at once instead. A drainer
cancelled inside a call (the loop shutting down) cancels that call's callers rather than
leaving them waiting, and still gives back what it held (``drained``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Subclasses implement ``call`` (all items in one go, results in order) and may
    implement ``whole_call_failure``, ``batch_key`` and ``drained``."""

    def __init__(self, *, max_batch: int, max_in_flight: int = 1) -> None:
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drainers: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: T) -> R:
        """Run ``item`` in the next call; its result, or the error its call raised."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests, a restarted lifespan): start afresh
            self._loop, self._pending, self._drainers = loop, [], set()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        # A drainer that found the queue empty has finished (done) before its done-callbacks
        # run: count only the running ones, or this item could wait for a drainer that left.
        self._drainers = {drainer for drainer in self._drainers if not drainer.done()}
        if len(self._drainers) < self.max_in_flight:
            self._drainers.add(loop.create_task(self._drain()))
        return await future

    async def call(self, items: list[T]) -> list[R]:
        raise NotImplementedError

    def whole_call_failure(self, exc: Exception) -> Callable[[], BaseException] | None:
        """For a failure that is not any item's fault: a maker of one exception per waiting
        caller (each raises it with its own traceback). None: run the items one by one."""
        return None

    def batch_key(self, item: T) -> object | None:
        """Items with equal keys never share a call: a repeat waits for the next call, which
        then sees what the earlier one did. None (the default): no such constraint."""
        return None

    async def drained(self) -> None:
        """This drainer is about to stop (the queue is empty, or it was cancelled): give back
        what its calls shared (a held connection). An item that arrives meanwhile is still served."""

    async def _drain(self) -> None:
        try:
            while self._pending:
                while self._pending:
                    await self._run(self._take())
                await self.drained()  # it may yield: whatever arrived meanwhile is this drainer's
        except asyncio.CancelledError:  # the loop is shutting down mid-call
            await self.drained()
            raise

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        """The next call's items: the queue's first ``max_batch``, a repeated key left queued
        (in its place, ahead of later arrivals)."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        rest: list[tuple[T, asyncio.Future[R]]] = []
        seen: set[object] = set()
        for entry in self._pending:
            key = self.batch_key(entry[0])
            if len(batch) >= self.max_batch or (key is not None and key in seen):
                rest.append(entry)
                continue
            if key is not None:
                seen.add(key)
            batch.append(entry)
        self._pending = rest
        return batch

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            await self._call_and_settle(batch)
        except asyncio.CancelledError:  # the drainer was cancelled: its callers must not wait forever
            for _, future in batch:
                future.cancel()  # a no-op for those already answered
            raise

    async def _call_and_settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self.call([item for item, _ in batch])
        except Exception as exc:
            failure = self.whole_call_failure(exc)
            if failure is not None or len(batch) == 1:
                for _, future in batch:
                    _settle(future, error=failure() if failure is not None else exc)
                return
            for pending in batch:  # isolate the failing item; the others still run
                await self._run([pending])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a caller's future unless it gave up waiting (a timeout, a client that went
    away): setting a done future raises."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
