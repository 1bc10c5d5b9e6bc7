from __future__ import annotations

from decimal import Decimal

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.raptor import order_body, pin, trading_client


async def test_market_buy_fills_at_the_current_price_and_moves_cash_and_position(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "150.25")
        before = (await client.get("/v1/account")).json()
        response = await client.post("/v1/orders", json=order_body(quantity="10", client_order_id="buy-1"))
        order = response.json()
        after = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
    assert response.status_code == 201, order
    assert order["status"] == "filled"
    assert order["filled_quantity"] == "10" and order["filled_avg_price"] == "150.25"
    assert order["fills"] == [{"quantity": "10", "price": "150.25", "at": order["fills"][0]["at"]}]
    assert order["actor"] == "alice" and order["token_id"] and order["request_id"]
    assert Decimal(before["cash"]) - Decimal(after["cash"]) == Decimal("1502.5")
    assert after["equity"] == before["equity"]  # valued at the fill price, nothing gained or lost
    assert positions == [
        {
            "symbol": "AAPL", "quantity": "10", "available": "10", "avg_entry_price": "150.25",
            "cost_basis": "1502.5", "current_price": "150.25", "market_value": "1502.5", "unrealized_pl": "0",
        }
    ]
