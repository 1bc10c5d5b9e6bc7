from __future__ import annotations

import asyncio

import psycopg

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import order_body, pin, trading_client


async def test_fifty_concurrent_submissions_of_one_client_order_id_create_one_order(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    # In one app the paper submissions share calls (broker/paper/batching.py), and a call meets its
    # own earlier insert of the id; test_paper_batches races five apps' calls against each other.
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        body = order_body(client_order_id="storm-1", quantity="1")
        responses = await asyncio.gather(*(client.post("/v1/orders", json=body) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    with psycopg.connect(test_databases.superuser_url(raptor_db.database)) as conn:
        orders = conn.execute("SELECT count(*) FROM orders WHERE client_order_id = 'storm-1'").fetchone()
        at_broker = conn.execute("SELECT count(*) FROM paper_orders WHERE client_order_id = 'storm-1'").fetchone()
        cash = conn.execute("SELECT cash FROM paper_account").fetchone()
        backends = conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM pg_stat_activity WHERE datname = %s) s",
            (raptor_db.database,),
        ).fetchone()
    assert orders == (1,)
    assert at_broker == (1,)
    assert cash is not None
    assert cash[0] == 100000 - 100
    assert backends is not None


async def test_concurrent_different_orders_all_land_and_cash_adds_up(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        responses = await asyncio.gather(
            *(client.post("/v1/orders", json=order_body(client_order_id=f"c-{i}", quantity="1")) for i in range(20))
        )
        account = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
    assert [r.status_code for r in responses] == [201] * 20
    assert account["cash"] == "99800"
    assert positions[0]["quantity"] == "20"


async def test_concurrent_buys_sells_and_cancels_keep_the_book_consistent(raptor_db: ProvisionedDatabase) -> None:
    """Buys lock the account then the position; sells must take them in the same order, or a
    buy and a sell of one symbol deadlock (a 503 here)."""
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        seed = await client.post("/v1/orders", json=order_body(quantity="100"))
        assert seed.json()["status"] == "filled"
        resting = [
            (await client.post("/v1/orders", json=order_body(type="limit", limit_price="5", quantity="1"))).json()
            for _ in range(5)
        ]
        calls = [client.post("/v1/orders", json=order_body(side=side, quantity="1")) for side in ("buy", "sell") * 20]
        calls += [client.delete(f"/v1/orders/{order['id']}") for order in resting]
        responses = await asyncio.gather(*calls)
        account = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
    assert [r.status_code for r in responses] == [201] * 40 + [200] * 5, [r.text for r in responses if r.is_error]
    assert {r.json()["status"] for r in responses[:40]} == {"filled"}
    assert positions[0]["quantity"] == "100"
    assert positions[0]["available"] == "100"
    assert account["cash"] == account["buying_power"] == "99000"
