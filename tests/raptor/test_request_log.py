from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from raxx.common import actions
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app
from tests.fixtures.apps import raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, auth, issue, order_body, pin, trading_client


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
    # The names the console's audit reconciler expects of Raptor (the action table's raptor_action).
    assert answers["req-submit"]["action"] == actions.PLACE_ORDER.raptor_action == "order.submit"
    assert answers["req-submit"]["target"] == order_id
    assert answers["req-cancel"]["action"] == actions.CANCEL_ORDER.raptor_action
    assert answers["req-cancel"]["target"] == order_id
    assert answers["req-cancel-all"]["action"] == actions.CANCEL_ALL_ORDERS.raptor_action
    assert answers["req-halt"]["action"] == actions.HALT_TRADING.raptor_action
    assert answers["req-halt"]["actor"] == "alice"
    assert answers["req-resume"]["action"] == actions.RESUME_TRADING.raptor_action
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


async def test_a_halt_is_committed_before_its_response_is_sent(raptor_db: ProvisionedDatabase) -> None:
    """The request's commit runs before the response starts (FastAPI's default runs it after)."""
    app = create_app(raptor_settings(raptor_db, "staging", **QUIET))
    logged_at_start: list[bool] = []

    def logged(request_id: str) -> bool:
        with psycopg.connect(raptor_db.runtime_url) as conn:
            return conn.execute("SELECT 1 FROM request_log WHERE request_id = %s", (request_id,)).fetchone() is not None

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def watching(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["path"] == "/v1/trading/halt":
                logged_at_start.append(logged("req-halt-commit"))
            await send(message)

        await app(scope, receive, watching)

    token = issue(raptor_db, "staging", "trade", "admin")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://testserver") as client,
    ):
        halted = await client.post(
            "/v1/trading/halt", json={"reason": "r"}, headers={**auth(token), "X-Request-ID": "req-halt-commit"}
        )
    assert halted.status_code == 200, halted.text
    assert logged_at_start == [True]
