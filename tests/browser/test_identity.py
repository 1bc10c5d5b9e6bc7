"""Identity as an operator sees it, against real processes: a staging URL re-pointed at Raptor
prod, and a Raptor staging that died. What the banner and the overview say, what prod got.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.browser import screenshot
from tests.fixtures.processes import OPERATOR, OPERATOR_PASSWORD, Stack
from tests.fixtures.proxy import FaultProxy, fault_proxy
from tests.reliability.helpers import audit_events

pytestmark = pytest.mark.browser

#: The console's own default (30 s): only the new rules may catch what happens below.
TTL = {"CONSOLE_IDENTITY_TTL_S": "30"}


def sign_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", OPERATOR)
    page.fill("input[name=password]", OPERATOR_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/staging/$"))


def refused_at(stack: Stack, env: str) -> list[str]:
    """Lines of that Raptor's log for tokens it refused as another environment's."""
    text = stack.services[f"raptor-{env}"].log.read_text(errors="replace")
    return [line for line in text.splitlines() if '"raptor.token.wrong_environment"' in line]


@pytest.fixture
def swappable(stack: Stack) -> Iterator[tuple[Stack, FaultProxy, str]]:
    """Both Raptors, a TCP proxy in front of staging, a console whose staging URL is the proxy."""
    stack.start_raptor("staging")
    stack.start_raptor("prod")
    with fault_proxy("127.0.0.1", stack.raptor_ports["staging"]) as proxy:
        urls = {"staging": f"http://{proxy.address}", "prod": stack.raptor_url("prod")}
        console = stack.start_console(raptor_urls=urls, extra_env=TTL)
        yield stack, proxy, console.url


def hammer(base: str, token: str, stop: threading.Event, answers: Counter[str]) -> None:
    """A script reading, placing and canceling in staging through the console, a few times a
    second: between rounds the console's connections to the proxy sit idle, as they did when
    the proxy was re-pointed in the report (so no call of the console fails on its own)."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        while not stop.wait(0.2):
            read = http.get("/api/staging/orders", params={"limit": "5"})
            body = {"symbol": "AAPL", "side": "buy", "type": "limit", "quantity": "1", "limit_price": "1"}
            placed = http.post("/api/staging/orders", json={**body, "client_order_id": uuid.uuid4().hex})
            canceled = http.delete(f"/api/staging/orders/{uuid.uuid4()}")
            for name, answer in (("read", read), ("place", placed), ("cancel", canceled)):
                answers[f"{name} {answer.status_code}"] += 1


def test_a_staging_proxy_switched_to_prod_gets_no_credentials_and_the_banner_says_misconfigured(
    page: Page, swappable: tuple[Stack, FaultProxy, str]
) -> None:
    stack, proxy, base = swappable
    token = stack.api_token()
    assert httpx.get(base + "/api/staging/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    answers: Counter[str] = Counter()
    stop = threading.Event()
    script = threading.Thread(target=hammer, args=(base, token, stop, answers), daemon=True)
    script.start()
    time.sleep(1.0)
    assert answers["read 200"] > 0  # the script works against staging
    proxy.switch("127.0.0.1", stack.raptor_ports["prod"])  # forwards to Raptor prod, drops its connections
    swapped_at = sum(answers.values())
    time.sleep(4.0)
    stop.set()
    script.join(15)

    after = sum(answers.values()) - swapped_at
    assert after > 10, answers  # the script kept trying all along
    # Counted at prod: at most the one request that could reveal the swap (here none: the
    # dropped connections already ended the proof, and the identity call told the story).
    assert len(refused_at(stack, "prod")) <= 1, refused_at(stack, "prod")
    assert answers["read 503"] + answers["place 503"] + answers["cancel 503"] > 0, answers

    sign_in(page, base)
    banner = page.locator("#env-banner")
    expect(banner).to_have_attribute("data-env", "staging")
    expect(banner.locator("[data-identity=misconfigured]")).to_contain_text("MISCONFIGURED")
    expect(banner).to_contain_text("says it is 'prod', not 'staging'")
    expect(page.locator("[data-field=identity-state]")).to_contain_text("MISCONFIGURED")
    screenshot(page, "staging-swapped-to-prod")
    page.goto(base + "/prod/")
    expect(banner.locator("[data-backend-env=prod]")).to_have_text("prod")  # prod itself is fine

    mismatches = [e for e in audit_events(stack.console.owner_url) if e.action == "identity.mismatch"]
    assert mismatches
    assert {e.environment for e in mismatches} == {"staging"}


def test_the_overview_stops_vouching_for_a_raptor_staging_that_died(page: Page, stack: Stack) -> None:
    stack.start_raptor("staging")
    stack.start_raptor("prod")
    base = stack.start_console(extra_env=TTL).url
    sign_in(page, base)
    state = page.locator("[data-field=identity-state]")
    expect(state).to_have_text("OK")
    expect(page.locator("#env-banner [data-identity-age]")).to_contain_text("checked")
    stack.kill("raptor-staging")
    page.goto(base + "/staging/")
    expect(state).not_to_contain_text("OK")
    expect(state).to_contain_text("UNREACHABLE")
    expect(page.locator("#env-banner [data-identity=unreachable]")).to_contain_text("backend unreachable")
    expect(page.locator("#env-banner [data-backend-env]")).to_have_count(0)  # no "backend says: staging"
    screenshot(page, "staging-overview-after-kill")
