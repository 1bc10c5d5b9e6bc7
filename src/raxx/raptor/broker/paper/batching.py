"""Paper-venue submissions that arrive together are placed together, in one database call.

Why: on the paper venue an order costs PostgreSQL far more than its rows: a statement, a
PL/pgSQL call, two commits and a WAL flush, and the one account row that every buy locks.
Measured with pgbench on this server, placing 8 orders per call took ~0.19 ms of database
time per order against ~0.5 ms one per call (migration ``r20261127_0006``,
``bench/README.md``). So each submission waits here for the call that carries it
(``raxx.common.batching``): the first one starts a call at once (no timer, no added latency
when idle), and whatever arrives while a call runs goes in the next, up to ``max_batch``
orders. One call at a time: measured under wrk, two or more calls in flight (each waiting
for the venue's lock in turn while the other flushes) placed fewer orders per second than
one call carrying them all, at 8 and at 32 connections.

Failure is per order, as if each had its own call: the database call reports replays and venue
refusals per order; a batch that PostgreSQL aborted whole (a deadlock with the venue's other
writers) is run again, nothing of it having been applied; any other error is isolated by
running the batch's orders one by one, so one order's error never fails another's. No
connection in time (every one busy, or a database that does not answer) fails every order
of the call with ``DatabaseBusy``, and a connection that breaks mid-call with
``BrokerUnavailable`` (both 503 with ``Retry-After``; nothing of the call was applied).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.errors import TransactionRollback, UniqueViolation
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from raxx.common.batching import Batcher
from raxx.common.db import busy_error
from raxx.common.errors import DatabaseBusy
from raxx.raptor.broker.base import BrokerUnavailable
from raxx.raptor.broker.paper import statements
from raxx.raptor.broker.paper.venue import PLACE_RETRIES

#: Orders per call at most: the venue's lock is held while a call places its orders.
MAX_BATCH = 32
#: Calls at once (see the module's docstring for the measurement). One drainer: it holds
#: the connection its calls share.
MAX_IN_FLIGHT = 1


@dataclass(frozen=True, slots=True)
class Placement:
    """What the venue did with one order: ``placed`` (with its ``status`` and API JSON),
    ``not_inserted`` (halted, or a known client order id: the caller replays) or ``refused``
    (the venue would not take it: the caller records the reason in steps)."""

    outcome: str
    halted: bool
    status: str | None = None
    wire_json: bytes | None = None


class PaperSubmissionBatcher(Batcher[dict[str, Any], Placement]):
    """Places paper orders through ``raptor_submit_paper_batch`` on ``pool`` (autocommit)."""

    def __init__(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch=max_batch, max_in_flight=MAX_IN_FLIGHT)
        self.pool = pool
        # The one drainer's connection, kept from call to call while orders keep coming
        # (a checkout and return per call was ~4 % of a call at 8 connections, measured).
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def place(self, values: dict[str, Any]) -> Placement:
        """Place one order (the fields ``statements.submit_paper_batch`` names); returns once its call has
        committed durably, or raises its error (``BrokerUnavailable``: the database did not answer)."""
        return await self.submit(values)

    def batch_key(self, item: dict[str, Any]) -> object | None:
        # One client order id per call: the database call judges each order against what is
        # committed plus the call's earlier orders, and a repeat must see whether the first
        # was placed or refused (migration r20261127_0007).
        return str(item["client_order_id"])

    async def call(self, items: list[dict[str, Any]]) -> list[Placement]:
        return await self._call_with_retries(items)

    def whole_call_failure(self, exc: Exception) -> Callable[[], BaseException] | None:
        if isinstance(exc, BrokerUnavailable):  # the database, not an order: every order of the call
            return lambda: _unavailable(exc)
        if isinstance(exc, DatabaseBusy):  # no connection in time: every order of the call, nothing done
            return lambda: DatabaseBusy(exc.detail)
        return None

    async def drained(self) -> None:
        await self._give_back()

    async def _give_back(self) -> None:
        """The held connection back to the pool, which closes it if it is broken."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await self.pool.putconn(conn)

    async def _take_connection(self) -> psycopg.AsyncConnection[Any]:
        """A connection for this drainer's calls; the pool stayed full for its whole wait:
        ``DatabaseBusy`` (a 503 with ``Retry-After``; nothing was placed)."""
        try:
            return await self.pool.getconn()
        except PoolTimeout as exc:
            raise busy_error(exc, "driver") from None

    async def _call_with_retries(self, orders: list[dict[str, Any]]) -> list[Placement]:
        """One call; again when PostgreSQL aborted it whole (nothing of it was applied)."""
        for attempt in range(PLACE_RETRIES):
            try:
                if self._conn is None:
                    self._conn = await self._take_connection()
                halted, rows = await statements.submit_paper_batch(self._conn, orders)
                return [Placement(outcome, halted, status, wire_json) for outcome, status, wire_json in rows]
            except TransactionRollback as exc:  # aborted whole (a deadlock): the connection is fine
                if attempt < PLACE_RETRIES - 1:
                    await asyncio.sleep(0.005 * (attempt + 1) + random.random() * 0.01)  # noqa: S311 - jitter
                    continue
                raise BrokerUnavailable(f"paper broker database error: {type(exc).__name__}") from exc
            except psycopg.OperationalError as exc:  # the venue is this database: it did not answer
                await self._give_back()  # maybe broken: the next call takes another
                raise BrokerUnavailable(f"paper broker database error: {type(exc).__name__}") from exc
            except UniqueViolation:
                # The venue's own placement raced this call for a client order id; once more
                # finds it (``not_inserted`` or ``refused``).
                if attempt == PLACE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")


def _unavailable(exc: BrokerUnavailable) -> BrokerUnavailable:
    """One exception object per waiting request (each raises it with its own traceback)."""
    copy = BrokerUnavailable(exc.reason)
    copy.__cause__ = exc.__cause__
    return copy
