from __future__ import annotations

from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import order_body, trading_client


async def test_an_order_placed_in_staging_is_not_visible_in_prod(test_databases: DatabaseFactory) -> None:
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    async with trading_client(staging_db, "staging") as staging, trading_client(prod_db, "prod") as prod:
        placed = (await staging.post("/v1/orders", json=order_body(client_order_id="shared-id"))).json()
        in_prod = (await prod.get("/v1/orders")).json()["orders"]
        by_id = await prod.get(f"/v1/orders/{placed['id']}")
        prod_positions = (await prod.get("/v1/positions")).json()["positions"]
        staging_account = (await staging.get("/v1/account")).json()
        prod_account = (await prod.get("/v1/account")).json()
        # The same client order id is free in prod: idempotency is per environment.
        prod_order = await prod.post("/v1/orders", json=order_body(client_order_id="shared-id", quantity="2"))
    assert in_prod == []
    assert by_id.status_code == 404
    assert prod_positions == []
    assert prod_order.status_code == 201
    assert staging_account["account_id"] != prod_account["account_id"]
    assert staging_account["environment"] == "staging"
    assert prod_account["environment"] == "prod"
    assert prod_account["cash"] == "100000"
    assert staging_account["cash"] != "100000"
