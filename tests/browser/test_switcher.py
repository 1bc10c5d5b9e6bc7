"""The switcher in a real browser: banner text, data-env, color and title change together."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from raxx.local.up import Topology
from tests.fixtures.browser import screenshot
from tests.fixtures.topology import DEMO_PASSWORD

pytestmark = pytest.mark.browser

STAGING_RGB = "rgb(180, 83, 9)"  # #b45309
PROD_RGB = "rgb(185, 28, 28)"  # #b91c1c


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "none")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/staging/")


def test_login_then_switch_from_staging_to_prod_through_confirmation(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    banner = page.locator("#env-banner")
    expect(banner).to_have_attribute("data-env", "staging")
    expect(banner).to_contain_text("STAGING")
    expect(banner).to_contain_text("backend says: staging")
    assert page.title().startswith("[STAGING]")
    assert banner.evaluate("el => getComputedStyle(el).backgroundColor") == STAGING_RGB
    screenshot(page, "staging")

    # Choosing prod in the dropdown submits the switch (progressive enhancement) ...
    page.select_option("#env-switcher", "prod")
    confirm = page.locator("[data-confirm=switch]")
    expect(confirm).to_be_visible()
    expect(banner).to_have_attribute("data-env", "staging")  # ... but nothing changed yet
    page.click("#confirm-switch")
    page.wait_for_url(base + "/prod/")

    expect(banner).to_have_attribute("data-env", "prod")
    expect(banner).to_contain_text("PRODUCTION")
    expect(banner).to_contain_text("backend says: prod")
    assert page.title().startswith("[PROD]")
    assert banner.evaluate("el => getComputedStyle(el).backgroundColor") == PROD_RGB
    assert page.locator("link[rel=icon]").get_attribute("href") == "/favicon/prod.svg"
    screenshot(page, "prod")


def test_unknown_environment_page_still_has_a_banner(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    response = page.goto(base + "/qa/")
    assert response is not None
    assert response.status == 404
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "unknown")
    expect(page.locator("#env-banner")).to_contain_text("UNKNOWN ENVIRONMENT")
