"""Orders through the console's pages against real Raptors: place, list, detail, cancel, cancel all, refusals."""

from __future__ import annotations

import uuid

import httpx
import psycopg
from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor
from tests.console.helpers import (
    audit_events,
    order_form,
    order_rows,
    outcomes,
    raptor_orders,
    second_browser,
    signed_in,
)
from tests.fixtures.database import DatabaseFactory


def _coid() -> str:
    return f"t-{uuid.uuid4().hex}"


async def test_place_a_market_order_lands_on_its_detail_page_with_fills(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    coid = _coid()
    placed = await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=coid, quantity="2"))
    assert placed.status_code == 303
    location = placed.headers["location"]
    assert location.startswith("/staging/orders/")
    assert location.endswith(f"?notice={placed.headers['x-request-id']}")  # no text or key in the URL
    detail = await console.get(location)
    assert detail.status_code == 200
    assert 'data-status="filled"' in detail.text
    assert 'data-fills="1"' in detail.text
    assert "BUY 2 AAPL market" in detail.text
    assert 'data-notice="placed"' in detail.text
    mine = [o for o in raptor_orders(raptors["staging"]) if o["client_order_id"] == coid]
    assert len(mine) == 1  # Raptor holds it, placed by the operator who signed in
    assert mine[0]["actor"] == "alice"
    assert mine[0]["request_id"] == placed.headers["x-request-id"]  # the console's request id reached Raptor


async def test_the_same_form_submitted_twice_places_one_order(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    form = order_form(csrf, "staging", client_order_id=_coid(), symbol="MSFT")
    first = await console.post("/staging/orders", data=form)
    second = await console.post("/staging/orders", data=form)
    assert 'data-notice="placed"' in (await console.get(first.headers["location"])).text
    assert 'data-notice="replayed"' in (await console.get(second.headers["location"])).text
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    assert len([o for o in raptor_orders(raptors["staging"]) if o["client_order_id"] == form["client_order_id"]]) == 1


async def test_notices_come_from_the_server_once_for_their_session_and_environment(
    console_asgi: FastAPI, console: httpx.AsyncClient
) -> None:
    csrf = await signed_in(console)
    placed = await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid()))
    location = placed.headers["location"]
    order_url, rid = location.split("?notice=")
    # A crafted link says nothing: neither the old ?done= key nor a request id this session never made.
    crafted = await console.get(order_url, params={"done": "placed", "rid": rid})
    assert "data-notice" not in crafted.text
    assert "Order placed." not in crafted.text
    assert "data-notice" not in (await console.get(order_url, params={"notice": "01not-a-request-of-mine"})).text
    # Another session following this session's link sees nothing, and does not use the notice up.
    async with second_browser(console_asgi) as other:
        await signed_in(other, "olga")
        assert "data-notice" not in (await other.get(location)).text
    # The same notice id on a page of another environment shows nothing there.
    assert "data-notice" not in (await console.get(f"/prod/orders?notice={rid}")).text
    # Its own page shows it once; a reload does not.
    first = await console.get(location)
    assert 'data-notice="placed"' in first.text
    assert rid in first.text  # with the request id of the action
    assert "data-notice" not in (await console.get(location)).text


async def test_cancel_one_resting_limit_order(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    form = order_form(csrf, "staging", client_order_id=_coid(), type="limit", limit_price="1.00", symbol="IBM")
    placed = await console.post("/staging/orders", data=form)
    order_id = placed.headers["location"].split("/")[-1].split("?")[0]
    detail = await console.get(f"/staging/orders/{order_id}")
    assert 'data-status="new"' in detail.text
    assert 'id="cancel-order"' in detail.text
    # Written in capitals: the same order, and the trail names it the one way a search finds it.
    canceled = await console.post(
        f"/staging/orders/{order_id.upper()}/cancel", data={"csrf_token": csrf, "environment": "staging"}
    )
    assert canceled.status_code == 303
    assert [e["target"] for e in audit_events(console_db) if e["action"] == "order.cancel"] == [order_id] * 2
    assert canceled.headers["location"].startswith(f"/staging/orders/{order_id}?notice=")
    after = await console.get(canceled.headers["location"])
    assert 'data-notice="canceled"' in after.text
    assert 'data-status="canceled"' in after.text
    assert 'id="cancel-order"' not in after.text  # nothing left to cancel


async def test_canceling_a_filled_order_is_refused_in_plain_words_with_the_request_id(
    console: httpx.AsyncClient,
) -> None:
    csrf = await signed_in(console)
    placed = await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid()))
    order_id = placed.headers["location"].split("/")[-1].split("?")[0]
    refused = await console.post(
        f"/staging/orders/{order_id}/cancel", data={"csrf_token": csrf, "environment": "staging"}
    )
    assert refused.status_code == 409
    assert 'data-error="order_not_cancelable"' in refused.text
    assert "already filled" in refused.text
    assert refused.headers["x-request-id"] in refused.text
    assert 'data-env="staging"' in refused.text


async def test_cancel_all_open_orders_in_staging(console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]) -> None:
    csrf = await signed_in(console)
    for _ in range(2):
        form = order_form(csrf, "staging", client_order_id=_coid(), type="limit", limit_price="1.50", symbol="ORCL")
        await console.post("/staging/orders", data=form)
    assert len(raptor_orders(raptors["staging"], status="new")) >= 2
    done = await console.post("/staging/orders/cancel-all", data={"csrf_token": csrf, "environment": "staging"})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/staging/orders?notice=")
    page = await console.get(done.headers["location"])
    assert 'data-notice="canceled_all"' in page.text
    assert raptor_orders(raptors["staging"], status="new") == []


async def test_a_cancel_all_form_posted_with_a_filter_is_refused_not_widened(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], console_db: ProvisionedDatabase
) -> None:
    """``/staging/orders/cancel-all?symbol=AAPL`` used to cancel every open order and record no
    filter: a mutation's query string is refused on the pages as on the API, recorded, nothing sent."""
    csrf = await signed_in(console)
    form = order_form(csrf, "staging", client_order_id=_coid(), type="limit", limit_price="1.50", symbol="ORCL")
    await console.post("/staging/orders", data=form)
    refused = await console.post(
        "/staging/orders/cancel-all?symbol=AAPL", data={"csrf_token": csrf, "environment": "staging"}
    )
    assert refused.status_code == 400, refused.text
    assert "unexpected_query" in refused.text
    assert "ORCL" in {o["symbol"] for o in raptor_orders(raptors["staging"], status="new")}
    [recorded] = [e for e in outcomes(console_db, action="order.cancel_all") if e["outcome"] != "ok"]
    assert (recorded["outcome"], recorded["http_status"], recorded["environment"]) == ("failed", 400, "staging")


async def test_list_filters_by_status_and_symbol_and_keeps_them(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid(), symbol="NVDA"))
    await console.post(
        "/staging/orders",
        data=order_form(csrf, "staging", client_order_id=_coid(), symbol="NVDA", type="limit", limit_price="1"),
    )
    page = await console.get("/staging/orders", params={"symbol": "nvda", "status": "new"})
    assert page.status_code == 200
    statuses = set(order_rows(page.text).values())
    assert statuses == {"new"}
    assert 'name="symbol" value="NVDA"' in page.text
    assert 'value="new" checked' in page.text
    fragment = await console.get(
        "/staging/orders", params={"symbol": "NVDA", "status": "new"}, headers={"X-Raxx-Fragment": "orders-table"}
    )
    assert fragment.text.lstrip().startswith('<div id="orders-table" data-env="staging"')
    assert "<html" not in fragment.text
    assert order_rows(fragment.text) == order_rows(page.text)


async def test_pages_of_orders_link_older_and_back_to_newer(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    for _ in range(27):
        await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid(), symbol="PG"))
    first = await console.get("/staging/orders", params={"symbol": "PG", "limit": "25"})
    assert len(order_rows(first.text)) == 25
    assert 'data-page="older"' in first.text
    older_href = first.text.split('data-page="older"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = await console.get("/staging/orders" + older_href.replace("&amp;", "&"))
    assert len(order_rows(second.text)) == 2
    assert not set(order_rows(second.text)) & set(order_rows(first.text))
    assert 'data-page="newer"' in second.text
    assert "symbol=PG" in older_href


async def test_bad_filters_are_marked_and_nothing_is_asked(console: httpx.AsyncClient) -> None:
    await signed_in(console)
    page = await console.get("/staging/orders", params={"symbol": "not a symbol", "since": "yesterday"})
    assert page.status_code == 422
    assert 'data-field-error="symbol"' in page.text
    assert 'data-field-error="since"' in page.text
    assert 'class="orders"' not in page.text


async def test_quantity_that_does_not_parse_comes_back_marked_and_nothing_is_sent(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    before = len(raptor_orders(raptors["staging"]))
    for quantity, price, field in (
        ("ten", "", "quantity"),
        ("1e3", "", "quantity"),
        ("-5", "", "quantity"),
        ("1.123456789", "", "quantity"),
        ("5", "abc", "limit_price"),
    ):
        form = order_form(csrf, "staging", client_order_id=_coid(), quantity=quantity, limit_price=price, type="limit")
        back = await console.post("/staging/orders", data=form)
        assert back.status_code == 422, (quantity, price)
        assert f'data-field-error="{field}"' in back.text
        assert 'aria-invalid="true"' in back.text
        assert f'value="{quantity}"' in back.text  # what was typed is kept
        assert "Nothing was sent" in back.text
    market_with_price = order_form(csrf, "staging", client_order_id=_coid(), limit_price="10")
    back = await console.post("/staging/orders", data=market_with_price)
    assert 'data-field-error="limit_price"' in back.text
    assert len(raptor_orders(raptors["staging"])) == before


async def test_insufficient_buying_power_shows_the_rejection(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    placed = await console.post(
        "/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid(), quantity="100000000")
    )
    detail = await console.get(placed.headers["location"])
    assert 'data-notice="rejected"' in detail.text
    assert 'data-status="rejected"' in detail.text
    assert "data-reject-reason" in detail.text
    assert "buying power" in detail.text


async def test_halted_trading_refuses_an_order_in_plain_words_and_keeps_the_form(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    halted = await console.post(
        "/staging/trading/halt", data={"csrf_token": csrf, "environment": "staging", "reason": "broker maintenance"}
    )
    assert halted.status_code == 303
    try:
        form = order_form(csrf, "staging", client_order_id=_coid(), symbol="KO", quantity="3")
        refused = await console.post("/staging/orders", data=form)
        assert refused.status_code == 409
        assert 'data-refusal="trading_halted"' in refused.text
        assert "Trading is halted in STAGING by alice" in refused.text
        assert "broker maintenance" in refused.text
        assert refused.headers["x-request-id"] in refused.text
        assert 'name="symbol" value="KO"' in refused.text
        assert form["client_order_id"] not in refused.text  # a fresh idempotency key for the retry
    finally:
        resumed = await console.post("/staging/trading/resume", data={"csrf_token": csrf, "environment": "staging"})
        assert resumed.status_code == 303
    assert (await console.get("/staging/trading")).text.count('data-halted="false"') == 1


async def test_unknown_order_is_a_404_page_with_the_banner(console: httpx.AsyncClient) -> None:
    await signed_in(console)
    for order_id in (str(uuid.uuid4()), "not-an-id"):
        page = await console.get(f"/prod/orders/{order_id}")
        assert page.status_code == 404
        assert 'data-env="prod"' in page.text
        assert "PRODUCTION" in page.text
        assert "no such order" in page.text


async def test_positions_account_and_trading_pages_read_their_environment(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid(), symbol="T"))
    positions = await console.get("/staging/positions")
    assert positions.status_code == 200
    assert 'data-symbol="T"' in positions.text
    account = await console.get("/prod/account")
    assert account.status_code == 200
    assert 'data-field="account_id"' in account.text
    assert "paper (no real money)" in account.text
    assert 'data-env="prod"' in account.text
    trading = await console.get("/prod/trading")
    assert 'id="halt-form"' in trading.text
    assert 'data-halted="false"' in trading.text


async def test_an_order_is_not_placed_when_its_attempt_cannot_be_audited(
    console: httpx.AsyncClient,
    raptors: dict[str, RunningRaptor],
    console_db: ProvisionedDatabase,
    test_databases: DatabaseFactory,
) -> None:
    csrf = await signed_in(console)
    role = psycopg.conninfo.conninfo_to_dict(console_db.runtime_url)["user"]
    with psycopg.connect(test_databases.superuser_url(console_db.database), autocommit=True) as conn:
        conn.execute(f'REVOKE INSERT ON audit_event FROM "{role}"')
    form = order_form(csrf, "staging", client_order_id=_coid(), symbol="WMT")
    refused = await console.post("/staging/orders", data=form)
    assert refused.status_code == 503
    assert "audit trail could not record" in refused.text
    assert 'data-env="staging"' in refused.text
    assert not [o for o in raptor_orders(raptors["staging"]) if o["client_order_id"] == form["client_order_id"]]


async def test_the_audit_outcome_names_the_order_and_who_placed_it(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console, "olga")
    placed = await console.post(
        "/staging/orders", data=order_form(csrf, "staging", client_order_id=_coid(), symbol="V", quantity="2")
    )
    order_id = placed.headers["location"].split("/")[-1].split("?")[0]
    [outcome] = [
        e for e in outcomes(console_db, action="order.place") if e["request_id"] == placed.headers["x-request-id"]
    ]
    assert (outcome["outcome"], outcome["environment"], outcome["actor_name"]) == ("ok", "staging", "olga")
    assert outcome["params"]["target"] == "BUY 2 V"
    assert outcome["params"]["order_id"] == order_id
    [attempt] = [e for e in audit_events(console_db) if e["event_id"] == outcome["attempt_id"]]
    assert attempt["params"]["symbol"] == "V"  # the form as submitted, recorded before anything was sent
    assert attempt["params"]["csrf_token"] == "[redacted]"
