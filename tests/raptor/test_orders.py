from __future__ import annotations

from decimal import Decimal

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.raptor import order_body, pin, trading_client


async def test_market_buy_fills_at_the_current_price_and_moves_cash_and_position(
    raptor_db: ProvisionedDatabase,
) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "150.25")
        before = (await client.get("/v1/account")).json()
        response = await client.post("/v1/orders", json=order_body(quantity="10", client_order_id="buy-1"))
        order = response.json()
        after = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
    assert response.status_code == 201, order
    assert order["status"] == "filled"
    assert order["filled_quantity"] == "10"
    assert order["filled_avg_price"] == "150.25"
    assert order["fills"] == [{"quantity": "10", "price": "150.25", "at": order["fills"][0]["at"]}]
    assert order["actor"] == "alice"
    assert order["token_id"]
    assert order["request_id"]
    assert Decimal(before["cash"]) - Decimal(after["cash"]) == Decimal("1502.5")
    assert after["equity"] == before["equity"]  # valued at the fill price, nothing gained or lost
    assert positions == [
        {
            "symbol": "AAPL",
            "quantity": "10",
            "available": "10",
            "avg_entry_price": "150.25",
            "cost_basis": "1502.5",
            "current_price": "150.25",
            "market_value": "1502.5",
            "unrealized_pl": "0",
        }
    ]


async def test_limit_buy_rests_then_fills_when_the_price_crosses(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "MSFT", "410.00")
        placed = (
            await client.post(
                "/v1/orders",
                json=order_body(symbol="MSFT", type="limit", limit_price="400", quantity="2", time_in_force="gtc"),
            )
        ).json()
        account = (await client.get("/v1/account")).json()
        assert placed["status"] == "new"
        assert placed["limit_price"] == "400"
        # The buy's worst case is reserved: buying power drops, cash does not.
        assert Decimal(account["cash"]) - Decimal(account["buying_power"]) == Decimal("800")
        await pin(client, "MSFT", "401.00")
        still = (await client.get(f"/v1/orders/{placed['id']}")).json()
        await pin(client, "MSFT", "399.50")
        filled = (await client.get(f"/v1/orders/{placed['id']}")).json()
        account = (await client.get("/v1/account")).json()
    assert still["status"] == "new"
    assert filled["status"] == "filled"
    assert filled["filled_avg_price"] == "399.5"
    assert filled["filled_at"] is not None
    assert account["cash"] == account["buying_power"]  # the reservation is released
    assert Decimal("100000") - Decimal(account["cash"]) == Decimal("799")


async def test_partial_fills_when_liquidity_is_limited(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db, paper_liquidity=Decimal("40")) as client:
        await pin(client, "IBM", "100")
        first = (await client.post("/v1/orders", json=order_body(symbol="IBM", quantity="100"))).json()
        await pin(client, "IBM", "110")  # the next pass fills 40 more at the new price
        second = (await client.get(f"/v1/orders/{first['id']}")).json()
        await pin(client, "IBM", "110")
        third = (await client.get(f"/v1/orders/{first['id']}")).json()
    assert first["status"] == "partially_filled"
    assert first["filled_quantity"] == "40"
    assert second["status"] == "partially_filled"
    assert second["filled_quantity"] == "80"
    assert second["filled_avg_price"] == "105"
    assert third["status"] == "filled"
    assert [f["quantity"] for f in third["fills"]] == ["40", "40", "20"]
    assert third["filled_avg_price"] == "106"


async def test_buy_beyond_buying_power_is_rejected_with_a_reason(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db, paper_starting_cash=Decimal("1000")) as client:
        await pin(client, "NVDA", "120")
        response = await client.post("/v1/orders", json=order_body(symbol="NVDA", quantity="9"))
        account = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "rejected"
    assert body["reject_reason"].startswith("insufficient buying power")
    assert "1080" in body["reject_reason"]
    assert "1000" in body["reject_reason"]
    assert account["cash"] == "1000"
    assert positions == {"positions": []}


async def test_sell_beyond_the_position_is_rejected(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AMD", "50")
        await client.post("/v1/orders", json=order_body(symbol="AMD", quantity="3"))
        too_many = (await client.post("/v1/orders", json=order_body(symbol="AMD", side="sell", quantity="4"))).json()
        ok = (await client.post("/v1/orders", json=order_body(symbol="AMD", side="sell", quantity="3"))).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
    assert too_many["status"] == "rejected"
    assert too_many["reject_reason"].startswith("insufficient position")
    assert ok["status"] == "filled"
    assert positions == []


async def test_same_client_order_id_same_body_returns_the_original(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        first = await client.post("/v1/orders", json=order_body(client_order_id="idem-1", quantity="5"))
        # The same order spelled differently (a whole number instead of a string, trailing zeros) is the same body.
        again = await client.post("/v1/orders", json=order_body(client_order_id="idem-1", quantity=5))
        zeros = await client.post("/v1/orders", json=order_body(client_order_id="idem-1", quantity="5.000"))
        listed = (await client.get("/v1/orders")).json()["orders"]
    assert first.status_code == 201
    assert (again.status_code, zeros.status_code) == (200, 200)
    assert again.json() == first.json() == zeros.json()
    assert len(listed) == 1


async def test_same_client_order_id_different_body_is_refused(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        first = (await client.post("/v1/orders", json=order_body(client_order_id="idem-2"))).json()
        response = await client.post("/v1/orders", json=order_body(client_order_id="idem-2", quantity="11"))
        listed = (await client.get("/v1/orders")).json()["orders"]
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert response.json()["order_id"] == first["id"]
    assert len(listed) == 1


async def test_cancel_is_idempotent_and_releases_the_reservation(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "TSLA", "200")
        placed = (
            await client.post("/v1/orders", json=order_body(symbol="TSLA", type="limit", limit_price="150"))
        ).json()
        first = await client.delete(f"/v1/orders/{placed['id']}")
        second = await client.delete(f"/v1/orders/{placed['id']}")
        account = (await client.get("/v1/account")).json()
    assert first.status_code == 200
    assert first.json()["status"] == "canceled"
    assert second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["cancel_reason"] == "canceled on request"
    assert account["buying_power"] == account["cash"] == "100000"


async def test_canceling_a_filled_order_is_a_409_with_a_reason(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        placed = (await client.post("/v1/orders", json=order_body())).json()
        response = await client.delete(f"/v1/orders/{placed['id']}")
    assert placed["status"] == "filled"
    assert response.status_code == 409
    assert response.json()["error"] == "order_not_cancelable"
    assert "filled" in response.json()["detail"]
    assert response.json()["status"] == "filled"


async def test_cancel_all_cancels_every_open_order(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        for price in ("90", "91", "92"):
            await client.post("/v1/orders", json=order_body(type="limit", limit_price=price, quantity="1"))
        filled = (await client.post("/v1/orders", json=order_body(quantity="1"))).json()
        response = await client.delete("/v1/orders")
        open_left = (await client.get("/v1/orders", params={"status": ["new", "partially_filled"]})).json()["orders"]
        still_filled = (await client.get(f"/v1/orders/{filled['id']}")).json()
    assert response.status_code == 200
    assert len(response.json()["canceled"]) == 3
    assert response.json()["failed"] == []
    assert {o["status"] for o in response.json()["canceled"]} == {"canceled"}
    assert open_left == []
    assert still_filled["status"] == "filled"


async def test_an_order_id_left_empty_is_a_404_never_a_redirect_to_cancel_all(raptor_db: ProvisionedDatabase) -> None:
    """``DELETE /v1/orders/`` (a script's ``/v1/orders/$ID`` with ID empty) used to be answered 307
    to ``/v1/orders``, which clients that follow redirects send again: every open order canceled."""
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        resting = (await client.post("/v1/orders", json=order_body(type="limit", limit_price="90"))).json()
        response = await client.delete("/v1/orders/", follow_redirects=True, headers={"Host": "evil.example"})
        still = (await client.get(f"/v1/orders/{resting['id']}")).json()
    assert response.status_code == 404, response.text
    assert "location" not in response.headers
    assert response.json()["error"] == "not_found", response.text
    assert still["status"] == "new"


async def test_unknown_order_is_a_404_in_the_one_shape(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        got = await client.get("/v1/orders/00000000-0000-0000-0000-000000000000")
        canceled = await client.delete("/v1/orders/00000000-0000-0000-0000-000000000000")
        malformed = await client.get("/v1/orders/not-a-uuid")
    assert got.status_code == 404
    assert got.json()["error"] == "order_not_found"
    assert canceled.status_code == 404
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "order_id"


async def test_validation_errors_are_422_naming_the_field(raptor_db: ProvisionedDatabase) -> None:
    cases = {
        "limit_price": order_body(type="limit"),
        "quantity": order_body(quantity="-1"),
        "symbol": order_body(symbol="not a symbol"),
        "side": order_body(side="hold"),
        "time_in_force": order_body(time_in_force="ioc"),
    }
    async with trading_client(raptor_db) as client:
        responses = {field: await client.post("/v1/orders", json=body) for field, body in cases.items()}
        market_with_price = await client.post("/v1/orders", json=order_body(limit_price="10"))
        # A JSON number with a fraction is already a float (100.00009999999999999 is 100.0001).
        inexact = await client.post(
            "/v1/orders",
            content=b'{"symbol":"AAPL","side":"buy","type":"limit","quantity":"1","limit_price":100.00009999999999999}',
            headers={"Content-Type": "application/json"},
        )
        whole = await client.post("/v1/orders", json=order_body(quantity=2))  # a whole number is exact
        not_json = await client.post("/v1/orders", content=b"{nope", headers={"Content-Type": "application/json"})
        listed = (await client.get("/v1/orders")).json()["orders"]
    for field, response in responses.items():
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"] == "validation_error"
        assert field in [d["field"] for d in response.json()["detail"]], (field, response.json())
    assert market_with_price.status_code == 422
    assert market_with_price.json()["detail"][0]["field"] == "limit_price"
    assert (inexact.status_code, inexact.json()["detail"][0]["field"]) == (422, "limit_price"), inexact.text
    assert "written as a string" in inexact.json()["detail"][0]["message"]
    assert (whole.status_code, whole.json()["quantity"]) == (201, "2"), whole.text
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_json")
    assert [o["quantity"] for o in listed] == ["2"]


async def test_list_filters_and_paginates_newest_first(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        await pin(client, "MSFT", "10")
        ids = []
        for i in range(7):
            symbol = "AAPL" if i % 2 == 0 else "MSFT"
            ids.append((await client.post("/v1/orders", json=order_body(symbol=symbol, quantity="1"))).json()["id"])
        pages, cursor = [], None
        while True:
            params: dict[str, str | int] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            body = (await client.get("/v1/orders", params=params)).json()
            pages.append([o["id"] for o in body["orders"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        apple = (await client.get("/v1/orders", params={"symbol": "AAPL"})).json()["orders"]
        middle = ids[3]
        created = (await client.get(f"/v1/orders/{middle}")).json()["created_at"]
        since = (await client.get("/v1/orders", params={"created_since": created})).json()["orders"]
        until = (await client.get("/v1/orders", params={"created_until": created})).json()["orders"]
        canceled = (await client.get("/v1/orders", params={"status": "canceled"})).json()["orders"]
        bad_cursor = await client.get("/v1/orders", params={"cursor": "garbage"})
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [order_id for page in pages for order_id in page] == list(reversed(ids))
    assert {o["symbol"] for o in apple} == {"AAPL"}
    assert len(apple) == 4
    assert [o["id"] for o in since] == list(reversed(ids[3:]))
    assert [o["id"] for o in until] == list(reversed(ids[:3]))
    assert canceled == []
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["detail"][0]["field"] == "cursor"


async def test_list_finds_by_id_prefix_client_order_id_and_side(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "10")
        await pin(client, "MSFT", "10")
        buys = [
            (await client.post("/v1/orders", json=order_body(quantity="1", client_order_id=f"find-{i}"))).json()
            for i in range(3)
        ]
        await client.post("/v1/orders", json=order_body(symbol="MSFT", quantity="1", client_order_id="find-sold"))
        sell = (
            await client.post(
                "/v1/orders", json=order_body(symbol="MSFT", side="sell", quantity="1", client_order_id="find-sell")
            )
        ).json()

        async def listed(**params: str) -> list[str]:
            response = await client.get("/v1/orders", params=params)
            assert response.status_code == 200, response.text
            return [o["id"] for o in response.json()["orders"]]

        target = buys[1]["id"]
        by_full_id = await listed(id=target)
        by_upper_prefix = await listed(id=target[:13].upper())  # dashes and case do not matter
        by_client_id = await listed(client_order_id="find-2")
        sells = await listed(side="sell")
        msft_buys = await listed(side="buy", symbol="MSFT")
        nothing = await listed(id="ffff")
        short = await client.get("/v1/orders", params={"id": "019"})
        not_hex = await client.get("/v1/orders", params={"id": "zzzz"})
    assert by_full_id == [target]
    # A prefix matches every id that starts with it: within one millisecond UUIDv7 ids share 13 digits.
    assert target in by_upper_prefix
    assert all(i.replace("-", "").startswith(target.replace("-", "")[:12]) for i in by_upper_prefix)
    assert by_client_id == [buys[2]["id"]]
    assert sells == [sell["id"]]
    assert len(msft_buys) == 1
    assert nothing == []
    for refused in (short, not_hex):
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"] == "id"


async def test_summary_counts_open_orders_and_today_with_rejections_by_kind(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db, paper_starting_cash=Decimal("1000")) as client:
        await pin(client, "NVDA", "100")
        empty = (await client.get("/v1/orders/summary")).json()
        await client.post("/v1/orders", json=order_body(symbol="NVDA", quantity="2"))  # filled: one fill
        await client.post("/v1/orders", json=order_body(symbol="NVDA", type="limit", limit_price="1", quantity="1"))
        for quantity in ("50", "60"):  # beyond buying power, with different amounts in the reason
            await client.post("/v1/orders", json=order_body(symbol="NVDA", quantity=quantity))
        await client.post("/v1/orders", json=order_body(symbol="NVDA", side="sell", quantity="5"))
        response = await client.get("/v1/orders/summary")
    assert empty["open_orders"] == 0
    assert empty["placed_today"] == 0
    assert empty["rejected_today"] == {}
    summary = response.json()
    assert response.status_code == 200
    assert summary["open_orders"] == 1
    assert summary["placed_today"] == 5
    assert summary["fills_today"] == 1
    assert summary["rejected_today"] == {"insufficient buying power": 2, "insufficient position": 1}
    assert summary["day_start"].endswith(("T00:00:00Z", "T00:00:00+00:00"))


async def test_state_survives_a_restart(raptor_db: ProvisionedDatabase) -> None:
    async with trading_client(raptor_db) as client:
        await pin(client, "AAPL", "100")
        placed = (await client.post("/v1/orders", json=order_body(quantity="3"))).json()
        resting = (
            await client.post("/v1/orders", json=order_body(type="limit", limit_price="90", quantity="1"))
        ).json()
        before = (await client.get("/v1/account")).json()
        identity = (await client.get("/v1/identity")).json()
    async with trading_client(raptor_db) as client:
        after = (await client.get("/v1/account")).json()
        positions = (await client.get("/v1/positions")).json()["positions"]
        again = (await client.get(f"/v1/orders/{placed['id']}")).json()
        await pin(client, "AAPL", "89")
        resting_now = (await client.get(f"/v1/orders/{resting['id']}")).json()
        identity_after = (await client.get("/v1/identity")).json()
    assert after == before
    assert identity_after["broker_account_id"] == identity["broker_account_id"]
    assert identity["broker"] == "paper"
    assert identity["paper"] is True
    assert again == placed
    assert positions[0]["quantity"] == "3"
    assert resting_now["status"] == "filled"
