"""One request budget per broker account, shared by every worker and dyno, kept in PostgreSQL.

Alpaca allows an account 200 requests a minute, however many processes send them. A token
bucket per process gave each worker the whole allowance (2 workers x 150 = 300 a minute
on one dyno, more with more dynos), so the budget lives in the environment's database,
where every process of that environment already has connections.

The scheme is GCRA (the "virtual scheduling" form of a token bucket), in one PL/pgSQL call
per request (``raptor_broker_budget_take``, migration ``r20261203_0008``): a row per account
holds the time the next request is due at the steady rate; a call reserves the next slot,
moves that time on by one interval and answers how long to wait before sending. A
reservation needs no retry loop and no second round trip; the caller sleeps without holding
a connection. Every time is the database's (``clock_timestamp()``, read under the row's
lock), so the clocks of different dynos never meet; only a relative wait leaves the
database. The table is UNLOGGED: a commit that touched only it writes no WAL to flush, and
after a database crash the budget merely starts full.

What it costs: one checkout from the process's driver pool and one round trip of a few
index lookups, next to an Alpaca request of tens of milliseconds over the internet
(``bench/broker_budget.py`` measures it against a bare ``SELECT 1``).

A request that would wait longer than ``max_wait_s`` reserves nothing and is refused
(``BudgetRefused``): waiting past the router's 30 s helps nobody, and Raptor's sync pass
finishes an order that did not go out. When Alpaca itself answers 429 (someone else used
the keys, or its clock disagrees), ``hold`` makes every process wait until Alpaca's reset.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

TAKE = "SELECT wait_s, reserved FROM raptor_broker_budget_take(%s, %s, %s, %s)"
HOLD = "SELECT raptor_broker_budget_hold(%s, %s, %s, %s)"


class BudgetRefused(Exception):
    """The request was not sent: the account's budget is spent for longer than a request may
    wait, or the budget could not be read. Nothing reached the broker."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BudgetRate:
    """One request every ``interval_s`` seconds, after a burst of up to ``burst`` at once.

    In any window of ``w`` seconds at most ``burst + w / interval_s`` requests leave.
    """

    interval_s: float
    burst: int

    @classmethod
    def under(cls, limit: int, window_s: float) -> BudgetRate:
        """The rate that keeps every ``window_s`` window under the venue's ``limit``, with a
        twentieth of it (at least one request) kept back: a burst of that size, and that
        much again in reserve for a person using the same keys and for network jitter
        (a request that arrives later than it left can land in the next window)."""
        if limit < 3:
            raise ValueError("a request budget needs a limit of at least 3 requests per window")
        margin = max(1, limit // 20)
        return cls(interval_s=window_s / (limit - 2 * margin), burst=margin)

    def most_in(self, seconds: float) -> int:
        """The most requests that can leave in any window of ``seconds``."""
        return self.burst + math.floor(seconds / self.interval_s)


class RequestBudget(Protocol):
    async def take(self) -> None:
        """Wait until one more request may be sent, or raise ``BudgetRefused``."""

    async def hold(self, seconds: float) -> None:
        """The broker said "wait": nobody sends for ``seconds``."""


def account_budget_name(broker: str, key_id: str) -> str:
    """The budget's key: the broker and a digest of the key id (one account per key pair)."""
    return f"{broker}:{hashlib.sha256(key_id.encode()).hexdigest()[:16]}"


class SharedBudget:
    """The account's budget in the environment's database, through the process's own pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[Any]],
        *,
        name: str,
        rate: BudgetRate,
        max_wait_s: float,
        connect_timeout_s: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self.name = name
        self.rate = rate
        self.max_wait_s = max_wait_s
        self._connect_timeout_s = connect_timeout_s
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SharedBudget({self.name}, one per {self.rate.interval_s:.3f}s, burst {self.rate.burst})"

    async def take(self) -> None:
        params = (self.name, self.rate.interval_s, self.rate.burst, self.max_wait_s)
        row = await self._call(TAKE, params)
        wait_s, reserved = float(row[0]), bool(row[1])
        if not reserved:
            raise BudgetRefused(
                f"the request budget of this broker account is spent for the next {math.ceil(wait_s)} s"
            )
        if wait_s > 0:
            await self._sleep(wait_s)

    async def hold(self, seconds: float) -> None:
        await self._call(HOLD, (self.name, self.rate.interval_s, self.rate.burst, max(seconds, 0.0)))

    async def _call(self, sql: str, params: tuple[object, ...]) -> tuple[Any, ...]:
        try:
            async with self._pool.connection(timeout=self._connect_timeout_s) as conn:
                row = await (await conn.execute(sql, params)).fetchone()
        except psycopg.Error as exc:  # PoolTimeout is one too
            raise BudgetRefused(f"the request budget could not be read ({type(exc).__name__})") from None
        assert row is not None  # both functions answer one row
        return tuple(row)
