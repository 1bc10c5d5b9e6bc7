"""``raxx.common.aio.every``: the loop behind the console's watches outlives a failed check."""

from __future__ import annotations

import asyncio
import logging

import pytest

from raxx.common.aio import every


async def test_a_failed_check_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def check() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise ConnectionResetError("the backend went away")
        if len(calls) == 3:
            done.set()

    with caplog.at_level(logging.WARNING, logger="test.every"):
        task = asyncio.create_task(every(0.01, check, log=logging.getLogger("test.every"), failed="test.check.failed"))
        await asyncio.wait_for(done.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert calls == [0, 1, 2]
    [failure] = [r for r in caplog.records if r.getMessage() == "test.check.failed"]
    assert failure.__dict__["error"] == "ConnectionResetError"
