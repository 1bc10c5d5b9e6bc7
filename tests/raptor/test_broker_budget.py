"""The broker account's request budget in PostgreSQL: the rate it keeps, its reservations on
the database's clock, refusals that reserve nothing, holds after a 429, and a database that
cannot be read. Four real processes sharing one budget: ``test_broker_budget_processes.py``."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.budget import BudgetRate, BudgetRefused, SharedBudget, account_budget_name
from raxx.raptor.database import DriverPool
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.raptor import driver_pool

pytestmark = LOOPBACK_ONLY


class Sleeps:
    """Records what a budget tells its caller to wait, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def budget(pool: DriverPool, sleeps: Sleeps, *, interval_s: float, burst: int, max_wait_s: float) -> SharedBudget:
    return SharedBudget(
        pool, name="alpaca:test", rate=BudgetRate(interval_s, burst), max_wait_s=max_wait_s, sleep=sleeps
    )


def due_at(db: ProvisionedDatabase) -> object:
    with psycopg.connect(db.runtime_url) as conn:
        row = conn.execute("SELECT due_at FROM broker_request_budgets WHERE name = 'alpaca:test'").fetchone()
    return row[0] if row else None


def test_the_rate_keeps_every_window_a_twentieth_under_the_venues_limit() -> None:
    alpaca = BudgetRate.under(200, 60.0)
    assert (alpaca.burst, alpaca.interval_s) == (10, pytest.approx(1 / 3))
    assert alpaca.most_in(60.0) == 190  # Alpaca allows 200 a minute per account
    assert BudgetRate.under(60, 6.0).most_in(6.0) == 57
    assert BudgetRate.under(3, 1.0).most_in(1.0) == 2
    with pytest.raises(ValueError, match="at least 3"):
        BudgetRate.under(2, 60.0)


def test_the_budget_is_named_by_account_without_the_key_id_in_clear() -> None:
    name = account_budget_name("alpaca", "PKTESTKEYID0000000001")
    assert name.startswith("alpaca:")
    assert "PKTEST" not in name
    assert name == account_budget_name("alpaca", "PKTESTKEYID0000000001")
    assert name != account_budget_name("alpaca", "PKOTHERKEY")


async def test_a_burst_then_one_slot_per_interval(raptor_db: ProvisionedDatabase) -> None:
    sleeps = Sleeps()
    async with driver_pool(raptor_db) as pool:
        shared = budget(pool, sleeps, interval_s=0.5, burst=3, max_wait_s=60)
        started = time.monotonic()
        for _ in range(8):
            await shared.take()
        elapsed = time.monotonic() - started
    # Slots are reserved, not waited for here: the burst goes at once, then one per 0.5 s
    # from the first call (less the little time the calls themselves took).
    slots = [0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    told = [0.0, 0.0, 0.0, *sleeps.waits]  # a zero wait is not slept
    assert len(sleeps.waits) == 5
    for wait, slot in zip(told, slots, strict=True):
        assert slot - elapsed - 0.05 <= wait <= slot + 0.05


async def test_a_refused_request_reserves_nothing(raptor_db: ProvisionedDatabase) -> None:
    sleeps = Sleeps()
    async with driver_pool(raptor_db) as pool:
        shared = budget(pool, sleeps, interval_s=30.0, burst=1, max_wait_s=5.0)
        await shared.take()
        before = due_at(raptor_db)
        for _ in range(3):
            with pytest.raises(BudgetRefused, match="spent for the next 30 s"):
                await shared.take()
        assert due_at(raptor_db) == before
    assert sleeps.waits == []


async def test_a_hold_after_a_429_makes_the_next_request_wait_that_long(raptor_db: ProvisionedDatabase) -> None:
    sleeps = Sleeps()
    async with driver_pool(raptor_db) as pool:
        shared = budget(pool, sleeps, interval_s=0.1, burst=5, max_wait_s=10.0)
        await shared.take()
        await shared.hold(3.0)
        await shared.take()
        await shared.take()  # after a hold: the steady rate, no new burst
    assert sleeps.waits == [pytest.approx(3.0, abs=0.1), pytest.approx(3.1, abs=0.1)]


async def test_a_database_that_cannot_be_reached_refuses_rather_than_sends() -> None:
    pool: DriverPool = AsyncConnectionPool(
        f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        min_size=0,
        max_size=1,
        kwargs={"autocommit": True, "connect_timeout": 1},
        open=False,
    )
    await pool.open(wait=False)
    shared = SharedBudget(pool, name="alpaca:test", rate=BudgetRate(1.0, 1), max_wait_s=1.0, connect_timeout_s=0.5)
    try:
        with pytest.raises(BudgetRefused, match="could not be read"):
            await shared.take()
    finally:
        await pool.close()
