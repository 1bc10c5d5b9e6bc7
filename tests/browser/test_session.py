"""Sessions as a browser keeps them: the cookie, signing out, restarts, and the pages about
every environment (issue 18, item 8)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from raxx.local.provision import ensure_demo_user
from raxx.local.up import Topology
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
    ensure_demo_user(topology.databases.console.owner_url, DEMO_PASSWORD)  # what every start does
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
    expect(button).to_have_css("background-color", DANGER_RGB)  # ... but the button says danger
    assert button.evaluate("el => getComputedStyle(el).backgroundColor") != STAGING_RGB  # not staging's amber
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
    expect(banner).to_have_css("background-color", CROSS_ENV_RGB)
    assert page.title().startswith(f"[{heading}]")
    screenshot(page, heading.lower())


def test_a_token_is_made_for_one_environment_prod_only_when_typed(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(base + "/tokens")
    expect(page.locator("#token-environment")).to_have_value("staging")  # the default
    page.fill("#token-form input[name=name]", "browser staging script")
    page.click("#token-form button[type=submit]")
    expect(page.locator("[data-created-env]")).to_have_text("STAGING")
    page.goto(base + "/tokens")
    page.fill("#token-form input[name=name]", "browser prod script")
    page.select_option("#token-environment", "prod")
    page.click("#token-form button[type=submit]")
    expect(page.locator("[data-field-error=confirm_env]")).to_be_visible()  # prod needs its name typed
    expect(page.locator("#new-token")).to_have_count(0)
    page.fill("#token-confirm-env", "prod")
    page.click("#token-form button[type=submit]")
    expect(page.locator("[data-created-env]")).to_have_text("PRODUCTION")
    page.goto(base + "/tokens")
    row = page.locator("tr", has_text="browser prod script")
    expect(row.locator("[data-token-envs]")).to_have_attribute("data-token-envs", "prod")
    screenshot(page, "tokens")
