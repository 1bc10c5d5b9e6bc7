"""A broker that does not answer: nothing half-applied, and the order is finished later."""

from __future__ import annotations

from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app
from raxx.raptor.broker.base import Broker, BrokerOrder, BrokerUnavailable, OrderIntent
from raxx.raptor.broker.factory import build_paper_broker
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import RaptorDatabase
from tests.fixtures.apps import asgi_client, raptor_settings
from tests.fixtures.raptor import QUIET, auth, issue, order_body, pin


class UnreachableAtFirst(PaperBroker):
    """The real paper broker behind a link that drops the first submission before it
    reaches the venue (a fake at the adapter boundary, not a patched function)."""

    failures = 1

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        if self.failures > 0:
            self.failures -= 1
            raise BrokerUnavailable("connection reset by the venue")
        return await super().submit(intent)


def _app_with_flaky_broker(db: ProvisionedDatabase) -> FastAPI:
    def factory(settings: RaptorSettings, db: RaptorDatabase) -> Broker:
        assert db.venue_engine is not None
        return build_paper_broker(settings, db.venue_engine, UnreachableAtFirst)

    return create_app(raptor_settings(db, "staging", **QUIET, pending_grace_seconds=0), broker_factory=factory)


async def test_an_unanswered_order_is_recorded_pending_then_placed(raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "trade", "admin")
    async with asgi_client(_app_with_flaky_broker(raptor_db)) as client:
        client.headers.update(auth(token))
        await pin(client, "AAPL", "100")
        refused = await client.post("/v1/orders", json=order_body(client_order_id="flaky-1", quantity="2"))
        account_between = (await client.get("/v1/account")).json()
        replay = await client.post("/v1/orders", json=order_body(client_order_id="flaky-1", quantity="2"))
        order_id = refused.json()["order_id"]
        finished = (await client.get(f"/v1/orders/{order_id}")).json()
        again = (await client.get(f"/v1/orders/{order_id}")).json()
        account_after = (await client.get("/v1/account")).json()
    assert refused.status_code == 503
    assert refused.json()["error"] == "broker_unavailable"
    assert account_between["cash"] == "100000"  # the venue never saw it
    assert replay.status_code == 200
    assert replay.json()["status"] == "new"
    assert replay.json()["broker_order_id"] is None
    assert finished["status"] == "filled"
    assert finished["broker_order_id"] is not None
    assert again == finished  # placed once, not twice
    assert account_after["cash"] == "99800"


async def test_a_pending_order_is_canceled_if_trading_was_halted_meanwhile(raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "trade", "admin")
    async with asgi_client(_app_with_flaky_broker(raptor_db)) as client:
        client.headers.update(auth(token))
        refused = await client.post("/v1/orders", json=order_body())
        await client.post("/v1/trading/halt", json={"reason": "venue trouble"})
        closed = (await client.get(f"/v1/orders/{refused.json()['order_id']}")).json()
        account = (await client.get("/v1/account")).json()
    assert refused.status_code == 503
    assert closed["status"] == "canceled"
    assert "halted" in closed["cancel_reason"]
    assert account["cash"] == "100000"
