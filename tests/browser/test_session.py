"""Sessions as a browser keeps them: the cookie, signing out, restarts, and the pages about
every environment (issue 18, item 8)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from raxx.up import Topology, _ensure_demo_user
from tests.browser.test_switcher import STAGING_RGB, sign_in
from tests.fixtures.browser import screenshot
from tests.fixtures.topology import DEMO_PASSWORD

pytestmark = pytest.mark.browser

DANGER_RGB = "rgb(185, 28, 28)"  # #b91c1c
CROSS_ENV_RGB = "rgb(30, 41, 59)"  # #1e293b: no environment's color


def session_cookies(page: Page) -> list[dict[str, object]]:
    return [dict(c) for c in page.context.cookies() if str(c["name"]).endswith("raxx_session")]


def test_the_session_cookie_lives_only_as_long_as_the_browser(page: Page, topology: Topology) -> None:
    sign_in(page, topology.url("console-prod"))
    [cookie] = session_cookies(page)
    assert cookie["expires"] == -1  # a session cookie: no Max-Age, no Expires
    assert cookie["sameSite"] == "Strict"
    assert cookie["httpOnly"] is True


def test_signing_out_clears_the_sites_cookies_and_storage(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.evaluate("() => window.localStorage.setItem('left-behind', 'x')")
    page.context.add_cookies([{"name": "other", "value": "1", "url": base}])
    page.click(".logout button[type=submit]")
    page.wait_for_url(base + "/login")
    assert session_cookies(page) == []
    assert [c for c in page.context.cookies() if c["name"] == "other"] == []  # Clear-Site-Data: "cookies"
    assert page.evaluate("() => window.localStorage.getItem('left-behind')") is None
    page.goto(base + "/staging/")
    page.wait_for_url(base + "/login?next=/staging/")


def test_restarting_raxx_up_with_the_same_demo_password_keeps_the_tab_signed_in(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    _ensure_demo_user(topology.databases.console.owner_url, DEMO_PASSWORD)  # what every start does
    page.reload()
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "staging")
    assert page.url == base + "/staging/"


def test_the_switch_to_production_button_wears_the_danger_color(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.select_option("#env-switcher", "prod")
    button = page.locator("#confirm-switch")
    expect(button).to_be_visible()
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "staging")  # the page left is staging ...
    color = button.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == DANGER_RGB  # ... but the button says danger, not staging's amber
    assert color != STAGING_RGB
    screenshot(page, "switch-confirm")


@pytest.mark.parametrize(("path", "heading"), [("/compare", "COMPARE"), ("/releases", "RELEASES")])
def test_pages_about_every_environment_have_their_own_neutral_banner(
    page: Page, topology: Topology, path: str, heading: str
) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(base + path)
    banner = page.locator("#env-banner")
    expect(banner.locator(".env-name")).to_have_text(heading)
    expect(banner).not_to_contain_text("COMPARISON")
    expect(banner.locator("[data-part=staging]")).to_have_text("STAGING")
    expect(banner.locator("[data-part=prod]")).to_have_text("PRODUCTION")
    assert banner.evaluate("el => getComputedStyle(el).backgroundColor") == CROSS_ENV_RGB
    assert page.title().startswith(f"[{heading}]")
    screenshot(page, heading.lower())
