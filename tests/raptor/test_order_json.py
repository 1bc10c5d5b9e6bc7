"""The list's JSON, rendered by PostgreSQL, is exactly what ``OrderRead`` writes for each order.

``GET /v1/orders`` passes ``orders.wire_json`` (rendered by a trigger on every write) through
as bytes; ``GET /v1/orders/{id}`` serializes with pydantic. Every field of every kind of
order must read the same both ways.
"""

from __future__ import annotations

from typing import Any

import psycopg
from alembic import command

from raxx.common.migrations import alembic_config, upgrade
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import order_body, pin, trading_client


async def _orders_of_every_kind(client: Any) -> None:
    await pin(client, "AAPL", "100")
    await pin(client, "MSFT", "1500")
    created = [
        order_body(quantity="1"),  # market buy, filled
        order_body(symbol="MSFT", quantity="0.5"),  # fractional quantity, round price
        order_body(type="limit", limit_price="90.1000", quantity="3"),  # resting: no fill, no filled_at
        order_body(type="limit", limit_price="120", quantity="2"),  # marketable limit, filled
        order_body(quantity="100000000"),  # beyond buying power: rejected with a reason
        order_body(side="sell", quantity="1"),  # sell of the position
    ]
    for body in created:
        response = await client.post("/v1/orders", json=body)
        assert response.status_code == 201, response.text
    resting = (await client.get("/v1/orders", params={"status": "new"})).json()["orders"][0]
    assert (await client.delete(f"/v1/orders/{resting['id']}")).status_code == 200  # canceled, with a reason


async def test_the_list_writes_every_order_as_the_single_order_endpoint_does(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await _orders_of_every_kind(client)
        # A whole-second time (pydantic writes no fraction), also in a fill.
        with psycopg.connect(raptor_db.owner_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE orders SET updated_at = date_trunc('second', updated_at), "
                "fills = jsonb_build_array(jsonb_build_object('quantity', '1', 'price', '100.5', "
                "'at', '2026-11-27T10:00:00Z')) WHERE id = (SELECT id FROM orders ORDER BY created_at LIMIT 1)"
            )
        listed = (await client.get("/v1/orders", params={"limit": 100})).json()
        assert len(listed["orders"]) == 6
        assert listed["next_cursor"] is None
        for order in listed["orders"]:
            single = (await client.get(f"/v1/orders/{order['id']}")).json()
            assert order == single
        statuses = {o["status"] for o in listed["orders"]}
        assert statuses == {"filled", "rejected", "canceled"}
        assert any(o["updated_at"].endswith(":00Z") or "." not in o["updated_at"] for o in listed["orders"])


async def test_the_list_pages_with_a_cursor_over_json_rows(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await _orders_of_every_kind(client)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/orders", params=params)).json()
            seen += [o["id"] for o in page["orders"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = [o["id"] for o in (await client.get("/v1/orders", params={"limit": 100})).json()["orders"]]
    assert seen == everything
    assert len(seen) == 6


async def test_orders_written_before_the_wire_column_read_the_same_after_the_migration(
    test_databases: DatabaseFactory,
) -> None:
    """r20261127_0004 brings fills written the old way (decimals as stored, ``+00:00`` times)
    to the API's form and renders every existing order's JSON."""
    db = test_databases.empty("raptor")
    command.upgrade(alembic_config("raptor", db.owner_url), "r20261127_0003")
    with psycopg.connect(db.owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (id, client_order_id, symbol, side, type, time_in_force, quantity, status,"
            " filled_quantity, filled_avg_price, fills, token_id, request_id, created_at, updated_at, filled_at)"
            " VALUES (gen_random_uuid(), 'old-1', 'AAPL', 'buy', 'market', 'day', 2.50000000, 'filled', 2.5, 100.5,"
            " jsonb_build_array(jsonb_build_object('quantity', '2.50000000', 'price', '100.5000',"
            " 'at', '2026-11-26T10:00:00.250000+00:00')), 't', 'r-old-1', '2026-11-26T10:00:00Z',"
            " '2026-11-26T10:00:00.5Z', '2026-11-26T10:00:00.25Z')"
        )
    upgrade("raptor", db.owner_url, runtime_url=db.runtime_url)
    async with trading_client(db) as client:
        listed = (await client.get("/v1/orders", params={"limit": 10})).json()["orders"]
        single = (await client.get(f"/v1/orders/{listed[0]['id']}")).json()
    assert listed == [single]
    assert single["fills"] == [{"quantity": "2.5", "price": "100.5", "at": "2026-11-26T10:00:00.250000Z"}]
