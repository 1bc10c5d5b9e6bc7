"""Paper submissions that arrive together share one database call (``broker/paper/batching.py``),
and every order still gets exactly the answer it would have had alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from raxx.common.db import libpq_url
from raxx.common.errors import DatabaseBusy
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.base import BrokerUnavailable, OrderIntent
from raxx.raptor.broker.paper import statements
from raxx.raptor.broker.paper.batching import PaperSubmissionBatcher
from raxx.raptor.broker.paper.venue import PaperBroker
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import order_body, pin, trading_client


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every ``raptor_submit_paper_batch`` call made during the test (the first one
    held back for a moment)."""
    sizes: list[int] = []
    real = statements.submit_paper_batch

    async def counting(conn: psycopg.AsyncConnection[Any], orders: Sequence[dict[str, Any]]) -> Any:
        if not sizes:
            # The first call takes its time, so the submissions behind it are sure to queue and
            # share the next call; on a loaded machine they otherwise may each find the batcher idle.
            await asyncio.sleep(0.2)
        sizes.append(len(orders))
        return await real(conn, orders)

    monkeypatch.setattr(statements, "submit_paper_batch", counting)
    return sizes


async def test_orders_that_arrive_together_are_placed_in_fewer_calls(
    raptor_db: ProvisionedDatabase, calls: list[int]
) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        responses = await asyncio.gather(
            *(client.post("/v1/orders", json=order_body(client_order_id=f"b-{i}", quantity="1")) for i in range(24))
        )
        account = (await client.get("/v1/account")).json()
    assert [r.status_code for r in responses] == [201] * 24
    assert sorted(r.json()["client_order_id"] for r in responses) == sorted(f"b-{i}" for i in range(24))
    assert all(r.json()["status"] == "filled" and r.json()["fills"][0]["price"] == "10" for r in responses)
    assert sum(calls) == 24
    assert len(calls) < 24, calls
    assert max(calls) > 1, calls
    assert account["cash"] == str(100000 - 240)


async def test_one_call_answers_each_order_as_if_it_were_alone(
    raptor_db: ProvisionedDatabase, calls: list[int]
) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        first = await client.post("/v1/orders", json=order_body(client_order_id="known", quantity="1"))
        assert first.status_code == 201
        calls.clear()
        placed, too_big, replay, conflict, short = await asyncio.gather(
            client.post("/v1/orders", json=order_body(client_order_id="new", quantity="2")),
            client.post("/v1/orders", json=order_body(client_order_id="too-big", quantity="5000")),
            client.post("/v1/orders", json=order_body(client_order_id="known", quantity="1")),
            client.post("/v1/orders", json=order_body(client_order_id="known", quantity="3")),
            client.post("/v1/orders", json=order_body(client_order_id="short", side="sell", quantity="50")),
        )
        account = (await client.get("/v1/account")).json()
    assert max(calls) > 1, calls  # they did share a call
    assert (placed.status_code, placed.json()["status"]) == (201, "filled")
    assert (too_big.status_code, too_big.json()["status"]) == (201, "rejected")
    assert "buying power" in too_big.json()["reject_reason"]
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    assert (conflict.status_code, conflict.json()["error"]) == (409, "idempotency_conflict")
    assert (short.status_code, short.json()["status"]) == (201, "rejected")
    assert account["cash"] == str(100000 - 100 - 200)


async def test_fifty_submissions_of_one_id_through_five_apps_create_one_order(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    """Five processes' worth of batchers racing: only the database can sort them out."""
    body = order_body(client_order_id="storm-5", quantity="1")
    async with (
        trading_client(raptor_db) as a,
        trading_client(raptor_db) as b,
        trading_client(raptor_db) as c,
        trading_client(raptor_db) as d,
        trading_client(raptor_db) as e,
    ):
        await pin(a, "AAPL", "100")
        responses = await asyncio.gather(*(app.post("/v1/orders", json=body) for app in (a, b, c, d, e) * 10))
    assert sorted(r.status_code for r in responses) == [200] * 49 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    with psycopg.connect(test_databases.superuser_url(raptor_db.database)) as conn:
        counted = conn.execute(
            "SELECT (SELECT count(*) FROM orders WHERE client_order_id = 'storm-5'),"
            " (SELECT count(*) FROM paper_orders WHERE client_order_id = 'storm-5'),"
            " (SELECT cash FROM paper_account)"
        ).fetchone()
    assert counted == (1, 1, Decimal(100000 - 100))


async def test_an_order_the_database_cannot_take_does_not_fail_the_others(
    raptor_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch, calls: list[int]
) -> None:
    """A price beyond the column's range aborts the call it is in; the batcher runs that
    call's orders one by one, so only that order fails (a 500: it is not the caller's fault)."""
    real = PaperBroker.placement_terms

    def overflowing(self: PaperBroker, intent: OrderIntent) -> dict[str, Any]:
        terms = real(self, intent)
        return {**terms, "path_price": Decimal("1e30")} if intent.symbol == "MSFT" else terms

    monkeypatch.setattr(PaperBroker, "placement_terms", overflowing)
    async with trading_client(raptor_db, raise_app_exceptions=False) as client:
        await pin(client, "AAPL", "10")
        responses = await asyncio.gather(
            *(client.post("/v1/orders", json=order_body(client_order_id=f"ok-{i}", quantity="1")) for i in range(4)),
            client.post("/v1/orders", json=order_body(symbol="MSFT", client_order_id="bad", quantity="1")),
        )
        orders = (await client.get("/v1/orders")).json()["orders"]
    assert [r.status_code for r in responses] == [201] * 4 + [500]
    assert responses[4].json()["error"] == "internal_error"
    assert sorted(o["client_order_id"] for o in orders) == [f"ok-{i}" for i in range(4)]
    assert max(calls) > 1, calls  # the bad order did share a call before it was isolated


async def test_a_database_that_does_not_answer_fails_every_order_of_the_call_at_once(
    raptor_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[int] = []
    real = PaperSubmissionBatcher._call_with_retries

    async def counting(self: PaperSubmissionBatcher, orders: list[dict[str, Any]]) -> Any:
        attempts.append(len(orders))
        return await real(self, orders)

    monkeypatch.setattr(PaperSubmissionBatcher, "_call_with_retries", counting)
    # Port 1: nothing listens there, whichever server the tests use (5432 or the embedded one's).
    closed_port = libpq_url(raptor_db.runtime_url) + "?port=1"
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        closed_port, min_size=1, max_size=1, timeout=0.5, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=False)
    try:
        batcher = PaperSubmissionBatcher(pool)
        outcomes = await asyncio.gather(
            *(batcher.place(_values(f"down-{i}")) for i in range(3)), return_exceptions=True
        )
    finally:
        await pool.close()
    # To a pool that waits for a connection, a database that does not answer is a wait that
    # runs out: every order of the call gets the same 503 a full pool gives (Retry-After).
    assert all(isinstance(o, DatabaseBusy) for o in outcomes), outcomes
    assert len({id(o) for o in outcomes}) == 3  # each request raises its own
    assert sum(attempts) == 3, attempts
    assert len(attempts) <= 2, attempts  # the call failed whole, not order by order


async def test_the_drainer_holds_one_connection_and_a_dead_one_fails_only_its_call(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While orders keep coming the drainer's calls share one connection, given back when
    the queue empties. One that dies while held (a database restart, a killed backend)
    fails the call it was in, and the next call takes another."""
    pids: list[int] = []
    in_second, go_on = asyncio.Event(), asyncio.Event()
    real = statements.submit_paper_batch

    async def observed(conn: psycopg.AsyncConnection[Any], orders: Sequence[dict[str, Any]]) -> Any:
        pids.append(conn.info.backend_pid)
        if len(pids) == 2:  # the second call: more orders queue behind it, then its backend dies
            in_second.set()
            await go_on.wait()
            with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        return await real(conn, orders)

    monkeypatch.setattr(statements, "submit_paper_batch", observed)
    with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as admin:
        admin.execute("INSERT INTO paper_account (id, account_id, cash) VALUES (1, 'PA-HELD', 1000)")
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        libpq_url(raptor_db.runtime_url), min_size=2, max_size=2, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    try:
        batcher = PaperSubmissionBatcher(pool)
        async with asyncio.timeout(10):
            first = asyncio.create_task(batcher.place(_timed("first")))
            while not pids:  # the first call is under way: what comes now waits for the next
                await asyncio.sleep(0)
            second = [asyncio.create_task(batcher.place(_timed(f"second-{i}"))) for i in range(2)]
            await in_second.wait()
            third = [asyncio.create_task(batcher.place(_timed(f"third-{i}"))) for i in range(2)]
            await asyncio.sleep(0)
            go_on.set()
            assert (await first).outcome == "placed"
            failed = await asyncio.gather(*second, return_exceptions=True)
            assert [p.outcome for p in await asyncio.gather(*third)] == ["placed", "placed"]
            await asyncio.sleep(0.05)
        stats = pool.get_stats()
    finally:
        await pool.close()
    assert all(isinstance(f, BrokerUnavailable) for f in failed), failed
    assert len(pids) == 3, pids
    assert pids[0] == pids[1]  # held from one call to the next
    assert pids[2] != pids[1]  # the dead one was given back, not reused
    assert stats["pool_available"] == 2  # the last one was given back when the queue emptied


def _timed(client_order_id: str) -> dict[str, Any]:
    """``_values`` with the venue's time filled in, as ``placement_terms`` gives it."""
    return {
        **_values(client_order_id),
        "now": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        "now_iso": "2026-11-27T12:00:00Z",
    }


def _values(client_order_id: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "client_order_id": client_order_id,
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "quantity": Decimal(1),
        "limit_price": None,
        "token_id": "t",
        "actor": None,
        "request_id": client_order_id,
        "venue_order_id": uuid.uuid4(),
        "liquidity": None,
        "path_price": Decimal(10),
        "now": None,
        "now_iso": None,
    }


async def test_an_id_only_the_venue_has_is_adopted_not_placed_twice(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    """The venue has a copy Raptor has no order for (placed on the venue directly): the
    batch writes nothing for it, and the generic steps record the venue's copy."""
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        assert (
            await client.post("/v1/orders", json=order_body(client_order_id="seed", quantity="1"))
        ).status_code == 201
        with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO paper_orders (id, client_order_id, symbol, side, type, time_in_force, quantity,"
                " limit_price, status, filled_quantity, filled_avg_price, reserved_cash, fills, created_at,"
                " updated_at, filled_at)"
                " SELECT gen_random_uuid(), 'venue-only', symbol, side, type, time_in_force, quantity, limit_price,"
                " status, filled_quantity, filled_avg_price, reserved_cash, fills, created_at, updated_at, filled_at"
                " FROM paper_orders WHERE client_order_id = 'seed'"
            )
            venue_id = conn.execute("SELECT id FROM paper_orders WHERE client_order_id = 'venue-only'").fetchone()
        adopted = await client.post("/v1/orders", json=order_body(client_order_id="venue-only", quantity="1"))
        account = (await client.get("/v1/account")).json()
    assert adopted.status_code == 201, adopted.text
    assert venue_id is not None
    assert adopted.json()["broker_order_id"] == str(venue_id[0])
    assert adopted.json()["status"] == "filled"
    assert account["cash"] == str(100000 - 10)  # the seed only: nothing was settled twice


#: Orders whose answers depend on the orders before them in the same call: shares bought
#: then sold, buying power used up, a resting limit buy's reserve, a partial fill, a sale
#: held on the book. (side, symbol, type, quantity, limit price, liquidity)
_SEQUENCE: list[tuple[str, str, str, str, str | None, str | None]] = [
    ("buy", "AAPL", "market", "10", None, None),
    ("sell", "AAPL", "market", "4", None, None),  # only the shares bought just before
    ("buy", "MSFT", "limit", "100", "40", None),  # rests: reserves 4,000
    ("buy", "AAPL", "market", "1000", None, None),  # beyond what is left
    ("buy", "AAPL", "market", "900", None, None),  # within it
    ("sell", "AAPL", "market", "7", None, None),
    ("sell", "MSFT", "market", "1", None, None),  # no MSFT shares: the limit buy rests
    ("buy", "AAPL", "market", "5", None, "3"),  # partially filled, the rest reserved
    ("sell", "AAPL", "limit", "5", "150", None),  # rests: the shares are held
]


async def test_a_call_of_many_orders_ends_where_one_call_per_order_ends(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    """The batch function settles in variables and writes once; it must agree, order by
    order and in the books, with the same orders placed one call each."""
    async with trading_client(raptor_db) as client:  # creates the paper account
        await pin(client, "AAPL", "100")
        await pin(client, "MSFT", "50")
    admin = test_databases.superuser_url(raptor_db.database)
    together = await _place_sequence(raptor_db, admin, [list(range(len(_SEQUENCE)))])
    alone = await _place_sequence(raptor_db, admin, [[i] for i in range(len(_SEQUENCE))])
    assert together == alone
    outcomes, books = together
    assert outcomes == [
        ("placed", "filled"),
        ("placed", "filled"),
        ("placed", "new"),
        ("refused", None),
        ("placed", "filled"),
        ("placed", "filled"),
        ("refused", None),
        ("placed", "partially_filled"),
        ("placed", "new"),
    ]
    assert books["positions"] == [("AAPL", Decimal("902"), Decimal("5"), Decimal("90200"))]
    assert books["rows"] == (7, 7, 7)  # orders, the venue's copies, request log: the placed ones


async def _place_sequence(
    raptor_db: ProvisionedDatabase, admin: str, calls: list[list[int]]
) -> tuple[list[tuple[str, str | None]], dict[str, Any]]:
    """Place ``_SEQUENCE`` on fresh books in the given calls; the answers and the books."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("TRUNCATE orders, paper_orders, request_log, paper_positions")
        conn.execute("UPDATE paper_account SET cash = 100000, reserved = 0")
    answers: list[tuple[str, str | None]] = []
    async with await psycopg.AsyncConnection.connect(libpq_url(raptor_db.runtime_url), autocommit=True) as conn:
        for call in calls:
            orders = [_sequence_order(i) for i in call]
            halted, rows = await statements.submit_paper_batch(conn, orders)
            assert not halted
            answers += [(outcome, status) for outcome, status, _ in rows]
    with psycopg.connect(admin) as conn:
        account = conn.execute("SELECT cash, reserved FROM paper_account").fetchone()
        positions = conn.execute("SELECT symbol, quantity, held, cost_basis FROM paper_positions ORDER BY 1").fetchall()
        rows = conn.execute(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM paper_orders),"
            " (SELECT count(*) FROM request_log)"
        ).fetchone()
    return answers, {"account": account, "positions": positions, "rows": rows}


def _sequence_order(i: int) -> dict[str, Any]:
    side, symbol, kind, quantity, limit_price, liquidity = _SEQUENCE[i]
    return {
        **_values(f"seq-{i}"),
        "side": side,
        "symbol": symbol,
        "type": kind,
        "quantity": Decimal(quantity),
        "limit_price": None if limit_price is None else Decimal(limit_price),
        "liquidity": None if liquidity is None else Decimal(liquidity),
        "now": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        "now_iso": "2026-11-27T12:00:00Z",
    }
