from __future__ import annotations

import json
import logging

import psycopg
import pytest

from raxx.common.logging import JsonFormatter
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.apps import raptor_client
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, order_body, trading_client


async def test_readyz_includes_the_broker_and_identity_names_the_paper_account(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db, **QUIET) as client:
        ready = (await client.get("/readyz")).json()
        identity = (await client.get("/v1/identity")).json()
    broker_check = next(c for c in ready["checks"] if c["name"] == "broker")
    assert ready["ready"] is True
    assert broker_check["ok"] is True
    assert identity["broker"] == "paper"
    assert identity["paper"] is True
    assert identity["broker_account_id"].startswith("PA")
    assert identity["broker_account_id"] in broker_check["detail"]


async def test_readyz_503_when_the_paper_account_is_missing(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    async with raptor_client(raptor_db, **QUIET) as client:
        with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as conn:
            conn.execute("DELETE FROM paper_account")
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert any(r.startswith("broker:") for r in response.json()["reasons"])


async def test_the_background_pass_fills_resting_orders(raptor_db: ProvisionedDatabase) -> None:
    import asyncio

    async with trading_client(raptor_db, maintenance_interval_seconds=0.05) as client:
        await client.put("/v1/paper/prices/AAPL", json={"price": "100"})
        placed = (await client.post("/v1/orders", json=order_body(type="limit", limit_price="95"))).json()
        # Pin the price straight in the venue's table: only the background pass can notice it.
        async with asyncio.timeout(10):
            await _set_price_behind_the_apps_back(raptor_db, "94")
            while (await client.get("/v1/orders", params={"status": "filled"})).json()["orders"] == []:
                await asyncio.sleep(0.05)
        listed = (await client.get("/v1/orders")).json()["orders"]
    assert listed[0]["id"] == placed["id"]
    assert listed[0]["status"] == "filled"


async def _set_price_behind_the_apps_back(db: ProvisionedDatabase, price: str) -> None:
    async with await psycopg.AsyncConnection.connect(db.runtime_url, autocommit=True) as conn:
        await conn.execute("UPDATE paper_prices SET price = %s WHERE symbol = 'AAPL'", (price,))


async def test_mutation_logs_carry_environment_request_id_and_actor(
    raptor_db: ProvisionedDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="raxx.raptor")
    async with trading_client(raptor_db, "staging") as client:
        await client.post(
            "/v1/orders", json=order_body(), headers={"X-Request-ID": "log-req-1", "X-Raxx-Actor": "erin"}
        )
    records = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "order.submit.ok"]
    assert len(records) == 1
    assert records[0]["environment"] == "staging"
    assert records[0]["request_id"] == "log-req-1"
    assert records[0]["actor"] == "erin"
    assert records[0]["token_id"]
