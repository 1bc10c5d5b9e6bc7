"""``raxx.common.batching``: who shares a call, who waits, and how failures are dealt."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from raxx.common.batching import Batcher


async def _turns(n: int = 3) -> None:
    """Let the event loop run ``n`` times: a task started, then its drainer started."""
    for _ in range(n):
        await asyncio.sleep(0)


class Doubler(Batcher[int, int]):
    """Doubles items; a negative item fails its call; zero stands for an outage."""

    def __init__(self, *, max_batch: int = 8, max_in_flight: int = 1) -> None:
        super().__init__(max_batch=max_batch, max_in_flight=max_in_flight)
        self.calls: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def call(self, items: list[int]) -> list[int]:
        self.calls.append(items)
        await self.release.wait()
        if 0 in items:
            raise ConnectionError("down")
        if any(item < 0 for item in items):
            raise ValueError(f"bad items in {items}")
        return [item * 2 for item in items]

    def whole_call_failure(self, exc: Exception) -> Callable[[], BaseException] | None:
        return (lambda: ConnectionError(str(exc))) if isinstance(exc, ConnectionError) else None


async def test_a_lone_item_is_called_at_once_and_later_arrivals_share_the_next_call() -> None:
    batcher = Doubler()
    batcher.release.clear()
    first = asyncio.create_task(batcher.submit(1))
    await _turns()
    assert batcher.calls == [[1]]  # started without waiting for company
    rest = [asyncio.create_task(batcher.submit(n)) for n in (2, 3, 4)]
    await _turns()
    batcher.release.set()
    assert await first == 2
    assert [await task for task in rest] == [4, 6, 8]
    assert batcher.calls == [[1], [2, 3, 4]]


async def test_a_call_takes_at_most_max_batch_items() -> None:
    batcher = Doubler(max_batch=2)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(1, 6)))
    assert results == [2, 4, 6, 8, 10]
    assert max(len(call) for call in batcher.calls) == 2


async def test_an_item_submitted_right_after_a_call_finished_is_still_served() -> None:
    """The drainer that served the first item is done before its done-callbacks run; the
    next item must start a new one rather than wait for it (this hung once)."""
    batcher = Doubler()
    assert await batcher.submit(1) == 2
    async with asyncio.timeout(5):  # in this task: wait_for's own task would start a turn later
        assert await batcher.submit(2) == 4


async def test_a_failing_item_fails_alone() -> None:
    batcher = Doubler()
    batcher.release.clear()
    blocker = asyncio.create_task(batcher.submit(1))
    await _turns()
    others = [asyncio.create_task(batcher.submit(n)) for n in (2, -1, 3)]
    await _turns()
    batcher.release.set()
    assert await blocker == 2
    results = await asyncio.gather(*others, return_exceptions=True)
    assert results[0] == 4
    assert results[2] == 6
    assert isinstance(results[1], ValueError)
    assert batcher.calls == [[1], [2, -1, 3], [2], [-1], [3]]


async def test_a_whole_call_failure_fails_every_item_of_the_call_with_its_own_exception() -> None:
    batcher = Doubler()
    batcher.release.clear()
    blocker = asyncio.create_task(batcher.submit(1))
    await _turns()
    others = [asyncio.create_task(batcher.submit(n)) for n in (0, 5, 6)]
    await _turns()
    batcher.release.set()
    await blocker
    results = await asyncio.gather(*others, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert len({id(result) for result in results}) == 3
    assert batcher.calls == [[1], [0, 5, 6]]  # not retried one by one


async def test_a_caller_that_gave_up_does_not_break_the_others() -> None:
    batcher = Doubler()
    batcher.release.clear()
    blocker = asyncio.create_task(batcher.submit(1))
    await _turns()
    impatient = asyncio.create_task(batcher.submit(2))
    patient = asyncio.create_task(batcher.submit(3))
    await _turns()
    impatient.cancel()
    batcher.release.set()
    assert await blocker == 2
    assert await patient == 6
    with pytest.raises(asyncio.CancelledError):
        await impatient


class KeyedDoubler(Doubler):
    """Items of equal absolute value are repeats of one another."""

    def batch_key(self, item: int) -> object | None:
        return abs(item)


async def test_repeats_of_a_key_go_in_separate_calls_in_arrival_order() -> None:
    batcher = KeyedDoubler()
    batcher.release.clear()
    first = asyncio.create_task(batcher.submit(9))
    await _turns()
    rest = [asyncio.create_task(batcher.submit(n)) for n in (1, 2, 1, 3, 1, 2)]
    await _turns()
    batcher.release.set()
    assert await first == 18
    assert [await task for task in rest] == [2, 4, 2, 6, 2, 4]
    assert batcher.calls == [[9], [1, 2, 3], [1, 2], [1]]


class Holder(Doubler):
    """Counts its ``drained`` calls; the first one waits for ``let_go``."""

    def __init__(self) -> None:
        super().__init__()
        self.drained_calls = 0
        self.let_go = asyncio.Event()

    async def drained(self) -> None:
        self.drained_calls += 1
        if self.drained_calls == 1:
            await self.let_go.wait()


async def test_drained_is_called_when_the_queue_empties_and_an_item_arriving_meanwhile_is_served() -> None:
    """``drained`` may yield (giving a connection back); the drainer is still running then, so
    no new one starts for an item that arrives: this one must serve it before it stops."""
    batcher = Holder()
    assert await batcher.submit(1) == 2
    assert batcher.drained_calls == 1  # the call is done; its drainer waits in drained
    second = asyncio.create_task(batcher.submit(2))
    await _turns()
    assert batcher.calls == [[1]]  # no second drainer started
    batcher.let_go.set()
    async with asyncio.timeout(5):
        assert await second == 4  # served by the drainer that was in drained
    await _turns()
    assert batcher.calls == [[1], [2]]
    assert batcher.drained_calls == 2  # and it found the queue empty again


async def test_a_drainer_cancelled_mid_call_still_calls_drained() -> None:
    """At shutdown a drainer can be cancelled inside a call; what it holds is given back."""
    batcher = Holder()
    batcher.let_go.set()
    batcher.release.clear()
    waiting = asyncio.create_task(batcher.submit(1))
    await _turns()
    assert batcher.calls == [[1]]
    for drainer in set(batcher._drainers):
        drainer.cancel()
    async with asyncio.timeout(5):
        with pytest.raises(asyncio.CancelledError):
            await waiting  # cancelled with its call, not left waiting forever
    assert batcher.drained_calls == 1
