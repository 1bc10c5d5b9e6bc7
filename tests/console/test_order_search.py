"""Finding orders in the console: short ids unique in the list, search by id prefix, client
order id, side; CSV export of every page the filters select, audited."""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.console.operations.forms import SHORT_ID_MIN, short_ids
from raxx.console.pages import orders as orders_page
from raxx.console.pages.downloads import csv_text
from tests.console.conftest import RunningRaptor
from tests.console.helpers import audit_events, audit_head, order_rows, signed_in

_SHORT_RE = re.compile(r'title="([0-9a-f-]{36})"><code data-short-id>([0-9a-f]+)</code>')


def test_short_ids_grow_until_unique_in_the_list() -> None:
    same_ms = ["0190aaaa-bbbb-7ccc-8ddd-000000000001", "0190aaaa-bbbb-7ccc-8ddd-000000000002"]
    other = "0191ffff-0000-7000-8000-000000000000"
    short = short_ids([*same_ms, other])
    assert short[other] == "0191ffff"  # nothing shares its first digits: the minimum length
    assert short[same_ms[0]] == "0190aaaabbbb7ccc8ddd000000000001"
    assert len(set(short.values())) == 3
    assert all(full.replace("-", "").startswith(s) for full, s in short.items())
    assert len(short[other]) == SHORT_ID_MIN


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralized() -> None:
    text = csv_text([["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain", None, 5]])
    assert next(csv.reader(io.StringIO(text))) == ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "plain", "", "5"]


def _place_direct(raptor: RunningRaptor, coid: str, **fields: str) -> dict[str, str]:
    body = {"symbol": "AAPL", "side": "buy", "type": "limit", "limit_price": "1.00", "quantity": "1"}
    with raptor.direct() as client:
        response = client.post("/v1/orders", json={**body, **fields, "client_order_id": coid})
        assert response.status_code == 201, response.text
        return dict(response.json())


async def test_the_list_shows_unique_short_ids_and_finds_an_order_by_one(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    await signed_in(console)
    tag = uuid.uuid4().hex[:8]
    placed = [_place_direct(raptors["staging"], f"find-{tag}-{i}") for i in range(6)]
    page = await console.get("/staging/orders", params={"limit": 200})
    shown = dict(_SHORT_RE.findall(page.text))
    mine = {o["id"]: shown[o["id"]] for o in placed}
    assert len(set(shown.values())) == len(shown)  # unique in the list, even for orders of the same millisecond
    target = placed[3]["id"]
    found = await console.get("/staging/orders", params={"id": mine[target]})
    assert found.status_code == 200
    assert list(order_rows(found.text)) == [target]
    assert f'data-copy="{target}"' in found.text  # the full id, to copy
    by_client_id = await console.get("/staging/orders", params={"client_order_id": f"find-{tag}-1"})
    assert list(order_rows(by_client_id.text)) == [placed[1]["id"]]
    sells = await console.get("/staging/orders", params={"side": "sell", "id": mine[target]})
    assert order_rows(sells.text) == {}
    bad = await console.get("/staging/orders", params={"id": "xyz!"})
    assert bad.status_code == 422
    assert 'data-field-error="id"' in bad.text


async def test_export_streams_every_page_the_filters_select_and_is_audited(
    console: httpx.AsyncClient,
    raptors: dict[str, RunningRaptor],
    console_db: ProvisionedDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(orders_page, "EXPORT_PAGE", 2)  # several keyset pages from a few orders
    await signed_in(console)
    tag = uuid.uuid4().hex[:8]
    placed = [_place_direct(raptors["staging"], f"exp-{tag}-{i}", symbol="XOM") for i in range(5)]
    _place_direct(raptors["staging"], f"exp-{tag}-other", symbol="GE")
    head = audit_head(console_db)
    response = await console.get("/staging/orders/export.csv", params={"symbol": "XOM", "status": "new"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    ours = [r for r in rows if r["client_order_id"].startswith(f"exp-{tag}")]
    assert [r["id"] for r in ours] == [o["id"] for o in reversed(placed)]  # newest first, every page
    assert {r["symbol"] for r in rows} == {"XOM"}
    events = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "order.export"]
    assert [e["phase"] for e in events] == ["attempt", "outcome"]
    assert events[0]["environment"] == "staging"
    assert events[0]["params"]["filters"] == {"status": ["new"], "symbol": "XOM"}
    assert events[1]["outcome"] == "ok"
    assert events[1]["params"]["rows"] == len(rows)


async def test_export_with_a_bad_filter_is_refused_in_the_one_shape(console: httpx.AsyncClient) -> None:
    await signed_in(console)
    response = await console.get("/staging/orders/export.csv", params={"id": "no"})
    assert response.status_code == 400
    assert "id" in response.text
