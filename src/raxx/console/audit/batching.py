"""Group commit for audit appends within one console process.

Appends are serialized by the database (one chain, one head), so concurrent requests
cannot share a WAL flush the way plain inserts do: each would wait for the previous
one's fsync. Here, requests that arrive while a write is in flight are written
together by the next one, in one transaction (``audit_append_many``), and each caller
resumes only after that transaction has committed. A lone request is written at once.

If a batch fails, its events are retried one by one, so one event's refusal (a second
outcome for an attempt) never fails the others.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit import repository
from raxx.console.audit.repository import Appended

MAX_BATCH = 64

_Pending = tuple[str, "asyncio.Future[Appended]"]


class AppendBatcher:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._drainer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def append(self, payload: str) -> Appended:
        """Append one event; returns once it is committed, or raises the database's error."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests, a restarted lifespan): start afresh
            self._loop, self._pending, self._drainer = loop, [], None
        future: asyncio.Future[Appended] = loop.create_future()
        self._pending.append((payload, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            results = await self._transaction([payload for payload, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for item in batch:  # isolate the failing event; the others still get written
                await self._write([item])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)

    async def _transaction(self, payloads: list[str]) -> list[Appended]:
        async with self.engine.connect() as conn:
            if len(payloads) == 1:
                # AUTOCOMMIT: the statement is its own transaction, so the append lock is held
                # only inside the database, never across a round trip to this process.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return [await repository.append(conn, payloads[0])]
            appended = await repository.append_many(conn, payloads)
            await conn.commit()
            return appended


def _settle(
    future: asyncio.Future[Appended], *, result: Appended | None = None, error: BaseException | None = None
) -> None:
    """Resolve a caller's future unless it gave up waiting (timeout, cancellation)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
