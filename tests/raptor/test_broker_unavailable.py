"""One ``BrokerUnavailable``: the venue's error is the refusal itself, and its answers are
byte for byte those the API gave when a second class translated it."""

from __future__ import annotations

from fastapi import FastAPI

from raxx.common.errors import RaxxError
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app
from raxx.raptor.broker.base import Broker, BrokerAccount, BrokerOrder, BrokerPosition, BrokerUnavailable, OrderIntent
from raxx.raptor.broker.factory import build_paper_broker
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import RaptorDatabase
from tests.fixtures.apps import asgi_client, raptor_settings
from tests.fixtures.raptor import QUIET, auth, issue, order_body

REASON = "connection reset by the venue"


class Silent(PaperBroker):
    """The paper venue behind a link that answers nothing."""

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        raise BrokerUnavailable(REASON)

    async def account(self) -> BrokerAccount:
        raise BrokerUnavailable(REASON)

    async def positions(self) -> list[BrokerPosition]:
        raise BrokerUnavailable(REASON)


def _app(db: ProvisionedDatabase) -> FastAPI:
    def factory(settings: RaptorSettings, db: RaptorDatabase) -> Broker:
        assert db.venue_engine is not None
        return build_paper_broker(settings, db.venue_engine, Silent)

    return create_app(raptor_settings(db, "staging", **QUIET), broker_factory=factory)


def test_the_venues_error_is_the_refusal() -> None:
    exc = BrokerUnavailable(REASON)
    assert isinstance(exc, RaxxError)
    assert (exc.status_code, exc.code, exc.headers()) == (503, "broker_unavailable", {"Retry-After": "2"})
    assert exc.body() == {"error": "broker_unavailable", "detail": f"the broker did not answer ({REASON})"}
    assert str(exc) == exc.reason == REASON  # as every BrokerError: the venue's reason


async def test_the_answers_are_what_they_were(raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "trade", "read")
    async with asgi_client(_app(raptor_db)) as client:
        client.headers.update(auth(token))
        account = await client.get("/v1/account")
        positions = await client.get("/v1/positions")
        submitted = await client.post("/v1/orders", json=order_body(client_order_id="silent-1"))
    plain = b'{"error":"broker_unavailable","detail":"the broker did not answer (connection reset by the venue)"}'
    for answer in (account, positions):
        assert (answer.status_code, answer.headers["retry-after"], answer.content) == (503, "2", plain)
    order_id = submitted.json()["order_id"]
    assert submitted.status_code == 503
    assert submitted.content == (
        b'{"error":"broker_unavailable","detail":"the broker did not answer (connection reset by the venue); '
        b"the order is recorded as pending and will be placed or closed when the broker answers"
        b'","order_id":"' + order_id.encode() + b'"}'
    )
