"""Group commit for audit appends within one console process.

Appends are serialized by the database (one chain, one head), so concurrent requests
cannot share a WAL flush the way plain inserts do: each would wait for the previous
one's fsync. Here, requests that arrive while a write is in flight are written
together by the next one, in one transaction (``audit_append_many``), and each caller
resumes only after that transaction has committed. A lone request is written at once.

If a batch fails, its events are retried one by one, so one event's refusal (a second
outcome for an attempt) never fails the others (``raxx.common.batching``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.batching import Batcher
from raxx.console.audit import repository
from raxx.console.audit.repository import Appended

MAX_BATCH = 64


class AppendBatcher(Batcher[str, Appended]):
    def __init__(self, engine: AsyncEngine, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch=max_batch)
        self.engine = engine

    async def append(self, payload: str) -> Appended:
        """Append one event; returns once it is committed, or raises the database's error."""
        return await self.submit(payload)

    async def call(self, items: list[str]) -> list[Appended]:
        return await self._transaction(items)

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
