"""Finding orders, exporting them and the audit trail, and the Overview's numbers, in a real Chromium
against the ``raxx up`` topology. Screenshots at 1366x768 go to docs/screens/ (the README shows them)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from raxx.local.up import Topology
from tests.browser.test_operations import place_limit_order
from tests.browser.test_switcher import sign_in
from tests.fixtures.browser import axe_source, serious_violations
from tests.fixtures.database import REPO_ROOT

pytestmark = pytest.mark.browser
SCREENS = REPO_ROOT / "docs" / "screens"


def shoot(page: Page, name: str) -> None:
    """A 1366x768 screenshot of the page as an operator sees it (the top of the page)."""
    page.set_viewport_size({"width": 1366, "height": 768})
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def _download_text(page: Page, selector: str) -> str:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_text()


def test_find_an_order_by_its_short_id_and_export_what_the_filters_select(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    for _ in range(3):  # placed within moments of each other: their ids share their first digits
        place_limit_order(page, base, "staging", "KO", price="1.00")
        page.wait_for_url(re.compile(r".*/staging/orders/[0-9a-f-]+\?notice="))  # the order page, a server notice
    page.goto(f"{base}/staging/orders?symbol=KO")
    shorts = page.locator("code[data-short-id]").all_inner_texts()
    assert len(shorts) >= 3
    assert len(set(shorts)) == len(shorts)  # unique in the list
    first = page.locator("tr[data-order-id]").first
    full_id = first.get_attribute("data-order-id")
    assert full_id is not None
    assert first.locator("a[title]").get_attribute("title") == full_id  # the full id on hover
    page.fill("input[name=id]", first.locator("code[data-short-id]").inner_text())
    page.fill("input[name=symbol]", "")
    page.click("#order-filters button[type=submit]")
    expect(page.locator("tr[data-order-id]")).to_have_count(1)
    expect(page.locator("tr[data-order-id]")).to_have_attribute("data-order-id", full_id)
    shoot(page, "orders-search")
    page.goto(f"{base}/staging/orders?symbol=KO&side=buy")
    rows = list(csv.DictReader(io.StringIO(_download_text(page, "#orders-export"))))
    assert full_id in {r["id"] for r in rows}
    assert {r["symbol"] for r in rows} == {"KO"}
    page.goto(f"{base}/staging/audit?action=order.export")
    expect(page.locator("tr[data-seq]").first).to_contain_text("order.export")


def test_audit_export_downloads_the_filtered_trail(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/audit?environment=%2A&action=auth.%2A")  # sign-ins have no environment
    text = _download_text(page, "#audit-export")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    assert all(r["action"].startswith("auth.") for r in rows)
    assert {"seq", "prev_hash", "hash"} <= set(rows[0])


def test_overview_shows_the_numbers_of_its_environment(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/")
    panels = page.locator("#overview-panels")
    expect(panels).to_have_attribute("data-env", "staging")
    for panel in ("orders", "trading", "account", "release", "identity", "audit"):
        expect(page.locator(f"#panel-{panel}")).to_be_visible()
    assert re.fullmatch(r"\d+", page.locator("[data-number=open_orders]").inner_text().strip())
    expect(page.locator("[data-halted]")).to_have_attribute("data-halted", "false")
    expect(page.locator("[data-identity]")).to_have_attribute("data-identity", "ok")
    expect(page.locator("[data-number=buying_power]")).to_contain_text("USD")
    shoot(page, "overview")
    page.goto(f"{base}/prod/")
    expect(page.locator("#overview-panels")).to_have_attribute("data-env", "prod")
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "prod")


def _record_staging_release(topology: Topology, release: str, by: str) -> None:
    """A staging deploy as the gate records it (CI deployed it); the monitor's next round puts it on the board."""
    ledger = topology.databases.ledger
    assert ledger is not None
    with psycopg.connect(ledger.runtime_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO release (id, app, environment, release_id, commit, artifact_digest, deployed_at, deployed_by,"
            " trigger, status, finished_at, ran_migrations, features)"
            " VALUES (gen_random_uuid(), 'raptor', 'staging', %s, %s, %s, now(), %s, 'push', 'succeeded', now(),"
            " false, '{}')",
            (release, release + "c0ffee", "sha256:" + release, by),
        )


def test_a_release_owner_approves_and_the_gate_refuses_an_unsoaked_promotion(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    release = f"r{uuid.uuid4().hex[:8]}"
    _record_staging_release(topology, release, by="ci-bot")
    sign_in(page, base)
    page.goto(f"{base}/releases")
    approve = page.locator(f"button[data-approve='{release}']")
    for _ in range(30):  # the monitor rebuilds the board every round (1 s here)
        if approve.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    approve.click()
    outcome = page.locator("#release-outcome")
    expect(outcome).to_have_attribute("data-status", "done")
    expect(outcome).to_contain_text(f"approved {release} for raptor-prod by demo")
    form = page.locator(f"form[data-action=promote]:has(button[data-promote='{release}'])")
    form.locator("input[name=typed_release]").fill(release)
    form.locator("input[name=typed_env]").fill("prod")
    form.locator("button[type=submit]").click()
    expect(outcome).to_have_attribute("data-status", "refused")
    expect(outcome).to_contain_text("soak")  # the gate's reasons, as `raxx gate promote` prints them
    expect(page.locator("#release-requests tr[data-request]").first).to_have_attribute("data-status", "refused")
    shoot(page, "releases")
    page.goto(f"{base}/prod/audit?action=release.*")
    expect(page.locator("tr[data-seq]").first).to_contain_text("release.promote")


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1366, 768), (1920, 1080)])
def test_the_top_bar_stays_on_one_line(page: Page, topology: Topology, width: int, height: int) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.set_viewport_size({"width": width, "height": height})
    for path in ("/staging/orders", "/prod/", "/releases"):
        page.goto(base + path)
        tops = page.eval_on_selector_all(
            "header.topbar > *", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
        )
        widths = page.eval_on_selector_all(
            "header.topbar > *", "els => els.map(e => Math.round(e.getBoundingClientRect().width))"
        )
        assert max(tops) - min(tops) <= 8, (path, width, tops, widths)  # every part on the same line
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (path, width)


def test_the_overview_follows_a_halt_without_reloading(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/")
    expect(page.locator("[data-halted]")).to_have_attribute("data-halted", "false")
    page.evaluate("window.__notReloaded = true")
    other = page.context.new_page()
    other.goto(f"{base}/staging/trading")
    other.fill("textarea[name=reason]", "live refresh check")
    other.click("#halt")
    try:
        # The panel changes by itself (the refresh period is 5 s), in the same document.
        expect(page.locator("[data-halted]")).to_have_attribute("data-halted", "true", timeout=15_000)
        assert page.evaluate("window.__notReloaded === true")
        expect(page.locator("#overview-panels")).to_have_attribute("data-env", "staging")
        assert page.url == f"{base}/staging/"
    finally:
        other.goto(f"{base}/staging/trading")
        other.click("#resume")
        expect(other.locator("#halt")).to_be_visible()


def test_health_draws_the_history_from_the_monitors_samples(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/health")
    history = page.locator(".history[data-service='raptor-staging']")
    expect(history.locator("figure.history-chart")).to_have_count(2)  # 24 h and 7 days
    assert int(history.locator("figure.history-chart").first.get_attribute("data-sampled") or "0") >= 1
    assert history.locator("rect.spark-gap").count() > 0  # before the topology started: gaps, not green
    history.scroll_into_view_if_needed()
    shoot(page, "health")


A11Y_PAGES = (
    "/{env}/",
    "/{env}/orders",
    "/{env}/orders/new",
    "/{env}/positions",
    "/{env}/account",
    "/{env}/trading",
    "/{env}/health",
    "/{env}/users",
    "/{env}/audit",
    "/compare",
    "/releases",
    "/tokens",
)


def test_axe_finds_no_serious_or_critical_violation_on_any_page(page: Page, topology: Topology) -> None:
    source = axe_source()
    base = topology.url("console-prod")
    page.goto(base + "/login")
    found = {"/login": serious_violations(page, source)}
    sign_in(page, base)
    for env in ("staging", "prod"):
        for path in A11Y_PAGES:
            page.goto(base + path.format(env=env))
            found[path.format(env=env)] = serious_violations(page, source)
    assert {p: v for p, v in found.items() if v} == {}


def test_phone_width_pages_fit_and_the_switcher_is_reachable_by_keyboard(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/staging/", "/staging/orders", "/staging/health", "/releases"):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
        )
        assert overflow <= 0, (path, overflow, wide)  # wide tables scroll inside themselves, the page does not
    page.goto(base + "/staging/")
    for _ in range(40):  # Tab from the top of the page reaches the switcher
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "env-switcher":
            break
    assert page.evaluate("document.activeElement.id") == "env-switcher"
