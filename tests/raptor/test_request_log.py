from __future__ import annotations

import psycopg
import pytest

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import order_body, pin, trading_client


async def test_every_mutation_is_found_by_its_request_id(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        placed = await client.post(
            "/v1/orders", json=order_body(type="limit", limit_price="90"), headers={"X-Request-ID": "req-submit"}
        )
        order_id = placed.json()["id"]
        await client.delete(f"/v1/orders/{order_id}", headers={"X-Request-ID": "req-cancel"})
        await client.delete("/v1/orders", headers={"X-Request-ID": "req-cancel-all"})
        await client.post("/v1/trading/halt", json={"reason": "r"}, headers={"X-Request-ID": "req-halt"})
        await client.post("/v1/trading/resume", headers={"X-Request-ID": "req-resume"})
        refused = await client.post("/v1/orders", json=order_body(quantity="abc"), headers={"X-Request-ID": "req-bad"})
        answers = {
            rid: (await client.get(f"/v1/requests/{rid}")).json()
            for rid in ("req-submit", "req-cancel", "req-cancel-all", "req-halt", "req-resume", "req-bad", "never-seen")
        }
    assert placed.headers["x-request-id"] == "req-submit"
    assert placed.json()["request_id"] == "req-submit"
    assert answers["req-submit"]["action"] == "order.submit"
    assert answers["req-submit"]["target"] == order_id
    assert answers["req-cancel"]["action"] == "order.cancel"
    assert answers["req-cancel"]["target"] == order_id
    assert answers["req-cancel-all"]["action"] == "order.cancel_all"
    assert answers["req-halt"]["action"] == "trading.halt"
    assert answers["req-halt"]["actor"] == "alice"
    assert answers["req-resume"]["action"] == "trading.resume"
    assert refused.status_code == 422
    for rid in ("req-bad", "never-seen"):
        assert answers[rid] == {
            "request_id": rid,
            "found": False,
            "action": None,
            "target": None,
            "at": None,
            "token_id": None,
            "actor": None,
        }
    assert all(answers[r]["found"] and answers[r]["at"] for r in ("req-submit", "req-halt"))


async def test_a_failed_mutation_leaves_no_request_record(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await client.post("/v1/trading/halt", json={"reason": "r"})
        refused = await client.post("/v1/orders", json=order_body(), headers={"X-Request-ID": "req-refused"})
        answer = (await client.get("/v1/requests/req-refused")).json()
    assert refused.status_code == 409
    assert answer["found"] is False


async def test_history_is_append_only_for_the_app_role(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    async with trading_client(raptor_db) as client:
        await client.post("/v1/trading/halt", json={"reason": "r"}, headers={"X-Request-ID": "req-h"})
    with psycopg.connect(raptor_db.runtime_url, autocommit=True) as conn:
        for statement in ("UPDATE request_log SET actor = 'mallory'", "DELETE FROM trading_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
