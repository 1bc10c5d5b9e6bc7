from __future__ import annotations

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.apps import raptor_client
from tests.fixtures.raptor import QUIET, auth, issue, order_body, pin, trading_client


async def test_halt_refuses_new_orders_with_reason_and_who(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        resting = (await client.post("/v1/orders", json=order_body(type="limit", limit_price="50"))).json()
        halted = await client.post(
            "/v1/trading/halt",
            json={"reason": "exchange outage"},
            headers={"X-Raxx-Actor": "bob", "X-Request-ID": "halt-req-1"},
        )
        refused = await client.post("/v1/orders", json=order_body(client_order_id="during-halt"))
        canceled = await client.delete(f"/v1/orders/{resting['id']}")
        state = (await client.get("/v1/trading")).json()
        listed = (await client.get("/v1/orders")).json()["orders"]
    assert halted.status_code == 200
    assert halted.json()["halted"] is True
    assert halted.json()["actor"] == "bob"
    assert halted.json()["request_id"] == "halt-req-1"
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "trading_halted"
    assert body["reason"] == "exchange outage"
    assert body["halted_by"] == "bob"
    assert body["halted_by_token"] == halted.json()["token_id"]
    assert "exchange outage" in body["detail"]
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert state["halted"] is True
    assert state["reason"] == "exchange outage"
    assert [o["id"] for o in listed] == [resting["id"]]


async def test_halt_is_idempotent_and_resume_reopens(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        first = (await client.post("/v1/trading/halt", json={"reason": "first"})).json()
        second = (
            await client.post("/v1/trading/halt", json={"reason": "second"}, headers={"X-Raxx-Actor": "carol"})
        ).json()
        resumed = await client.post("/v1/trading/resume", headers={"X-Raxx-Actor": "dave"})
        placed = await client.post("/v1/orders", json=order_body())
    assert second["reason"] == "first"
    assert second["actor"] == "alice"
    assert second["changed_at"] == first["changed_at"]
    assert resumed.status_code == 200
    assert resumed.json() == {**resumed.json(), "halted": False, "actor": "dave"}
    assert placed.status_code == 201


async def test_halt_persists_across_restart(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await client.post("/v1/trading/halt", json={"reason": "overnight maintenance"})
    async with trading_client(raptor_db) as client:
        state = (await client.get("/v1/trading")).json()
        refused = await client.post("/v1/orders", json=order_body())
    assert state["halted"] is True
    assert state["reason"] == "overnight maintenance"
    assert refused.status_code == 409
    assert refused.json()["error"] == "trading_halted"


async def test_halt_needs_a_reason_and_the_admin_scope(raptor_db: ProvisionedDatabase) -> None:
    trade = issue(raptor_db, "staging", "trade")
    async with trading_client(raptor_db) as client:
        no_reason = await client.post("/v1/trading/halt", json={})
        blank = await client.post("/v1/trading/halt", json={"reason": "   "})
    async with raptor_client(raptor_db, "staging", **QUIET) as client:
        by_trader = await client.post("/v1/trading/halt", json={"reason": "x"}, headers=auth(trade))
        state = (await client.get("/v1/trading", headers=auth(trade))).json()
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["field"] == "reason"
    assert blank.status_code == 422
    assert by_trader.status_code == 403
    assert state["halted"] is False
