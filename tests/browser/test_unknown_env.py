"""Unknown environments in a real browser: the banner and the tab's title say so, by name."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from raxx.local.up import Topology
from tests.browser.test_switcher import sign_in
from tests.fixtures.browser import screenshot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/PROD/orders", "UNKNOWN ENVIRONMENT 'PROD'"),
        ("/Staging/", "UNKNOWN ENVIRONMENT 'Staging'"),
        ("/prod_eu/", "UNKNOWN ENVIRONMENT 'prod_eu'"),
        ("/pr%C3%B6d/", "UNKNOWN ENVIRONMENT 'pröd'"),
    ],
)
def test_an_unknown_environment_wears_its_name_in_the_banner_and_title(
    page: Page, topology: Topology, path: str, label: str
) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    response = page.goto(base + path)
    assert response is not None
    assert response.status == 404
    banner = page.locator("#env-banner")
    expect(banner).to_have_attribute("data-env", "unknown")
    expect(banner.locator(".env-name")).to_have_text(label)
    assert page.title().startswith("[UNKNOWN ENV]")
    expect(banner).not_to_contain_text("NO ENVIRONMENT SELECTED")


def test_a_case_variant_offers_the_real_environment_by_a_plain_link(page: Page, topology: Topology) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(base + "/PROD/orders?symbol=AAPL")
    link = page.locator("#env-banner [data-did-you-mean]")
    expect(link).to_have_text("/prod/orders")
    screenshot(page, "unknown-env-did-you-mean")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    link.click()
    page.wait_for_url(base + "/prod/orders")
    assert requests[0] == f"GET {base}/prod/orders"  # a GET, no query carried over, nothing posted
    assert not any(r.startswith("POST") for r in requests)
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "prod")
