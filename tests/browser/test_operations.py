"""Operators' daily work in a real Chromium against the ``raxx up`` topology.

Place and cancel in staging; the typed confirmation in prod; a stale staging tab after
another tab switched to prod; a viewer's denied action; Raptor staging stopped while
prod keeps working.
"""

from __future__ import annotations

import contextlib
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from raxx.common.aio import run_sync
from raxx.common.errors import Conflict
from raxx.local.up import Topology
from tests.browser.test_switcher import PROD_RGB, STAGING_RGB, sign_in
from tests.fixtures.apps import add_user
from tests.fixtures.browser import screenshot

pytestmark = pytest.mark.browser

VIEWER = "vera"
VIEWER_PASSWORD = "a viewer who only looks 2026"


def banner_env(page: Page) -> str | None:
    return page.locator("#env-banner").get_attribute("data-env")


def place_limit_order(page: Page, base: str, env: str, symbol: str, price: str = "1.00") -> None:
    page.goto(f"{base}/{env}/orders/new")
    page.fill("input[name=symbol]", symbol)
    page.check("input[name=side][value=buy]")
    page.check("input[name=type][value=limit]")
    page.fill("input[name=quantity]", "3")
    page.fill("input[name=limit_price]", price)
    page.click("#place-order")


def test_place_and_cancel_in_staging(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    symbol = "IBM"
    place_limit_order(page, base, "staging", symbol)
    page.wait_for_url(re.compile(rf"{base}/staging/orders/[0-9a-f-]{{36}}\?notice=[0-9a-z]+"))
    expect(page.locator("[data-notice=placed]")).to_be_visible()
    # The notice came from the server, once: a reload does not say it again, nor does a crafted link.
    page.reload()
    expect(page.locator("#order-status")).to_be_visible()
    expect(page.locator("[data-notice]")).to_have_count(0)
    page.goto(page.url.split("?")[0] + "?done=placed")
    expect(page.locator("#order-status")).to_be_visible()
    expect(page.locator("[data-notice]")).to_have_count(0)
    expect(page.locator("#order-status")).to_have_text("new")
    assert banner_env(page) == "staging"
    screenshot(page, "staging-order-placed")
    page.click("#cancel-order")
    page.wait_for_url(re.compile(r".*\?notice=.*"))
    expect(page.locator("[data-notice=canceled]")).to_be_visible()
    expect(page.locator("#order-status")).to_have_text("canceled")
    expect(page.locator("#cancel-order")).to_have_count(0)


def test_invalid_quantity_comes_back_marked(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/orders/new")
    page.fill("input[name=symbol]", "AAPL")
    page.fill("input[name=quantity]", "ten")
    page.click("#place-order")
    expect(page.locator("[data-field-error=quantity]")).to_be_visible()
    expect(page.locator("input[name=quantity]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("input[name=quantity]")).to_have_value("ten")
    assert banner_env(page) == "staging"


def test_placing_in_prod_asks_for_a_typed_confirmation(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    place_limit_order(page, base, "prod", "XOM", price="2.00")
    confirm = page.locator("[data-confirm='order.place']")
    expect(confirm).to_be_visible()
    expect(page.locator("#confirm-target")).to_have_text("BUY 3 XOM @ 2")
    assert banner_env(page) == "prod"
    assert page.title().startswith("[PROD]")
    banner = page.locator("#env-banner")
    assert banner.evaluate("el => getComputedStyle(el).backgroundColor") == PROD_RGB
    screenshot(page, "prod-confirmation")
    page.fill("#typed-env", "staging")
    page.fill("#typed-target", "BUY 3 XOM @ 2")
    page.click("#confirm-action")
    expect(page.locator("[data-field-error=typed_env]")).to_be_visible()
    page.fill("#typed-env", "prod")
    page.click("#confirm-action")
    page.wait_for_url(re.compile(rf"{base}/prod/orders/[0-9a-f-]{{36}}\?notice=[0-9a-z]+"))
    expect(page.locator("#order-status")).to_have_text("new")
    assert banner_env(page) == "prod"


def test_a_stale_staging_tab_keeps_acting_on_staging(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    tab1 = page
    tab1.goto(f"{base}/staging/orders/new")
    tab2 = page.context.new_page()
    tab2.goto(f"{base}/staging/orders")
    tab2.select_option("#env-switcher", "prod")
    tab2.click("#confirm-switch")
    tab2.wait_for_url(f"{base}/prod/orders")
    assert banner_env(tab2) == "prod"
    # Tab 1 was rendered before the switch: it still says staging, and acts on staging.
    assert banner_env(tab1) == "staging"
    assert tab1.locator("#env-banner").evaluate("el => getComputedStyle(el).backgroundColor") == STAGING_RGB
    symbol = "GE"
    tab1.fill("input[name=symbol]", symbol)
    tab1.fill("input[name=quantity]", "1")
    tab1.click("#place-order")
    tab1.wait_for_url(re.compile(rf"{base}/staging/orders/[0-9a-f-]{{36}}\?notice=[0-9a-z]+"))
    assert banner_env(tab1) == "staging"
    assert tab1.title().startswith("[STAGING]")
    order_id = tab1.url.split("/")[-1].split("?")[0]
    # Prod does not know this order; staging does.
    tab2.goto(f"{base}/prod/orders/{order_id}")
    assert banner_env(tab2) == "prod"
    expect(tab2.locator("[data-error]")).to_have_attribute("data-error", "order_not_found")
    screenshot(tab1, "stale-tab-staging")
    # The audit trail shows where the session was: on prod, while this staging tab placed the order.
    tab1.goto(f"{base}/staging/audit?action=order.place&outcome=ok")
    newest = tab1.locator("table.audit-events tbody tr").first
    expect(newest).to_have_attribute("data-session-env", "prod")
    expect(newest).to_have_attribute("data-env", "staging")
    expect(newest.locator(".other-tab-mark")).to_have_text("⚠ other tab")
    tab1.click("table.audit-events tbody tr >> nth=0 >> a")
    expect(tab1.locator("[data-event-session-env]")).to_have_text("PRODUCTION")
    expect(tab1.locator("[data-event-origin]")).to_have_text("/staging/orders/new")
    expect(tab1.locator("p[data-other-tab]")).to_be_visible()
    screenshot(tab1, "audit-other-tab")


@pytest.fixture(scope="module")
def viewer(topology: Topology) -> str:
    """A viewer on staging (no role in prod), added to the topology's console database."""

    async def add() -> None:
        await add_user(topology.databases.console, VIEWER, VIEWER_PASSWORD, {"staging": "viewer"})

    with contextlib.suppress(Conflict):  # added already by an earlier module in this topology
        run_sync(add)
    return VIEWER


def test_a_viewer_cannot_act_and_a_forged_request_gets_403(page: Page, topology: Topology, viewer: str) -> None:
    base = topology.url("console-prod")
    page.goto(base + "/login")
    page.fill("input[name=username]", viewer)
    page.fill("input[name=password]", VIEWER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/staging/")
    page.goto(base + "/staging/orders")
    expect(page.locator("#new-order")).to_have_count(0)
    expect(page.locator("#cancel-all")).to_have_count(0)
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = page.request.post(
        base + "/staging/orders/cancel-all", form={"csrf_token": csrf or "", "environment": "staging"}
    )
    assert forged.status == 403
    assert 'data-error="permission_denied"' in forged.text()
    response = page.goto(base + "/staging/orders/new")
    assert response is not None
    assert response.status == 403
    assert banner_env(page) == "staging"
    expect(page.locator("[data-error=permission_denied]")).to_contain_text(
        "vera may not place orders in staging (your role there is viewer)"
    )


def test_orders_table_refreshes_and_keeps_the_filter(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    symbol = "KO"
    page.goto(f"{base}/staging/orders?symbol={symbol}&status=new")
    before = page.locator("#orders-table tr[data-order-id]").count()
    token = _api_token(topology)
    body = {
        "symbol": symbol,
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limit_price": "1",
        "client_order_id": uuid.uuid4().hex,
    }
    placed = httpx.post(f"{base}/api/staging/orders", json=body, headers={"Authorization": f"Bearer {token}"})
    assert placed.status_code == 201, placed.text
    expect(page.locator(f"#orders-table tr[data-order-id='{placed.json()['id']}']")).to_be_visible(timeout=15_000)
    assert page.locator("#orders-table tr[data-order-id]").count() == before + 1
    assert page.url.endswith(f"symbol={symbol}&status=new")  # no reload: the filter is still in the page
    expect(page.locator("input[name=symbol]")).to_have_value(symbol)
    assert {
        s
        for s in page.locator("#orders-table tr[data-order-id]").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-status'))"
        )
    } == {"new"}


def _api_token(topology: Topology) -> str:
    from raxx.common.db import create_engine, session_factory
    from raxx.console.apitoken import service

    async def create() -> str:
        engine = create_engine(topology.databases.console.runtime_url, application_name="test", pool_size=1)
        try:
            async with session_factory(engine)() as db, db.begin():
                return (
                    await service.create(
                        db, user_name="demo", name="browser test", expires_days=1, environments=("staging", "prod")
                    )
                ).plaintext
        finally:
            await engine.dispose()

    return run_sync(create)


def test_raptor_staging_stopped_while_prod_keeps_working(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    topology.supervisor.stop_child("raptor-staging")
    try:
        response = page.goto(f"{base}/staging/orders")
        assert response is not None
        assert response.status >= 500
        assert banner_env(page) == "staging"
        expect(page.locator("[data-backend-error]")).to_be_visible()
        expect(page.locator("[data-backend-error]")).to_contain_text("request id")
        screenshot(page, "staging-down")
        response = page.goto(f"{base}/prod/orders")
        assert response is not None
        assert response.status == 200
        assert banner_env(page) == "prod"
        expect(page.locator("#orders-table table.orders")).to_be_visible()
        page.goto(f"{base}/compare")
        expect(page.locator("tr[data-row=identity] td[data-env=staging]")).to_contain_text("UNREACHABLE")
        expect(page.locator("tr[data-row=backend_env] td[data-env=prod]")).to_have_text("prod")
        screenshot(page, "compare-staging-down")
    finally:
        topology.supervisor.start("raptor-staging")
        topology.supervisor.wait_ready("raptor-staging")
    page.goto(f"{base}/staging/orders")
    expect(page.locator("#orders-table table.orders")).to_be_visible(timeout=15_000)
