"""Live state (issue 20 item 4) in a real Chromium against the ``raxx up`` topology: positions,
the trading switch, health and releases refresh their fragment without a reload, pause in a
hidden tab, keep their environment, and keep working when a second console process (same
databases) answers the refreshes."""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Page, expect

from raxx.common.pgembed import free_port
from raxx.local.up import Topology
from tests.browser.test_switcher import sign_in

pytestmark = pytest.mark.browser

#: The console's refresh period in the topology (CONSOLE_ORDERS_REFRESH_S default) and a margin.
PERIOD_MS = 5_000
SWAPPED_WITHIN_MS = 3 * PERIOD_MS

LIVE_PAGES = (
    ("/staging/positions", "positions-table", "staging"),
    ("/staging/trading", "trading-panel", "staging"),
    ("/staging/health", "health-panel", "staging"),
    ("/releases", "release-board", ""),
)


def mark_stale(page: Page, fragment: str) -> None:
    """Tag the fragment now shown and the document; a swap brings an untagged fragment."""
    page.evaluate(
        "id => { document.getElementById(id).setAttribute('data-stale', ''); window.__notReloaded = true; }", fragment
    )


def expect_swapped(page: Page, fragment: str, env: str, timeout: float = SWAPPED_WITHIN_MS) -> None:
    node = page.locator(f"#{fragment}")
    expect(node).not_to_have_attribute("data-stale", "", timeout=timeout)
    expect(node).to_have_attribute("data-env", env)
    assert page.evaluate("window.__notReloaded === true")  # the same document: no reload


def set_hidden(page: Page, hidden: bool) -> None:
    """Emulate the tab being hidden or shown (Chromium has no switch for a page's visibility)."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
            const state = hidden ? 'hidden' : 'visible';
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


@pytest.mark.parametrize(("path", "fragment", "env"), LIVE_PAGES)
def test_each_live_page_refreshes_its_fragment_and_pauses_while_hidden(
    page: Page, topology: Topology, path: str, fragment: str, env: str
) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(base + path)
    expect(page.locator(f"#{fragment}")).to_have_attribute("data-refresh-every", "5")
    mark_stale(page, fragment)
    expect_swapped(page, fragment, env)
    assert page.url == base + path
    # Hidden: two whole periods pass without a swap; shown again: it catches up at once.
    set_hidden(page, True)
    mark_stale(page, fragment)
    page.wait_for_timeout(2 * PERIOD_MS + 500)
    expect(page.locator(f"#{fragment}")).to_have_attribute("data-stale", "")
    set_hidden(page, False)
    expect_swapped(page, fragment, env, timeout=PERIOD_MS - 1_000)


def halt(page: Page, base: str) -> None:
    page.goto(f"{base}/staging/trading")
    page.fill("textarea[name=reason]", "live state check")
    page.click("#halt")


def resume(page: Page, base: str) -> None:
    page.goto(f"{base}/staging/trading")
    page.click("#resume")
    expect(page.locator("#halt")).to_be_visible()


def test_the_trading_page_follows_a_halt_made_elsewhere_and_keeps_a_typed_reason(
    page: Page, topology: Topology
) -> None:
    base = topology.url("console-prod")
    sign_in(page, base)
    page.goto(f"{base}/staging/trading")
    expect(page.locator("#trading-state")).to_have_attribute("data-halted", "false")
    mark_stale(page, "trading-panel")
    other = page.context.new_page()
    halt(other, base)
    try:
        expect(page.locator("#trading-state")).to_have_attribute("data-halted", "true", timeout=SWAPPED_WITHIN_MS)
        expect(page.locator("#resume")).to_be_visible()  # the form follows the state too
        expect_swapped(page, "trading-panel", "staging")
        resume(other, base)
        # A reason being typed is never wiped by a refresh, even with the focus elsewhere.
        expect(page.locator("#halt")).to_be_visible(timeout=SWAPPED_WITHIN_MS)
        page.fill("textarea[name=reason]", "half typed")
        page.locator("h1").click()
        mark_stale(page, "trading-panel")
        page.wait_for_timeout(PERIOD_MS + 1_500)
        expect(page.locator("#trading-panel")).to_have_attribute("data-stale", "")
        expect(page.locator("textarea[name=reason]")).to_have_value("half typed")
    finally:
        other.goto(f"{base}/staging/trading")
        if other.locator("#resume").count():
            resume(other, base)


class _SplitProxy(BaseHTTPRequestHandler):
    """Full pages and forms to console A, the refresher's fragment requests to console B."""

    upstreams: dict[str, int]
    served: dict[str, int]

    def _forward(self) -> None:
        to = "B" if self.headers.get("x-raxx-fragment") else "A"
        self.served[to] += 1
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        conn = http.client.HTTPConnection("127.0.0.1", self.upstreams[to], timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=body or None, headers=headers)
        answer = conn.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive"):
                self.send_header(key, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        conn.close()

    do_GET = _forward
    do_POST = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def second_console(topology: Topology) -> Iterator[str]:
    """A second console process on the same databases, secrets and Raptors as console-prod."""
    spec = topology.supervisor.children["console-prod"].spec
    port = free_port()
    argv = [*spec.argv[:-1], str(port)]
    assert spec.argv[-2] == "--port"
    env = {**os.environ, **spec.env, "RAXX_RELEASE": spec.release, "PYTHONUNBUFFERED": "1"}
    if spec.release_var:
        env[spec.release_var] = spec.release
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, "the second console exited"
            threading.Event().wait(0.2)
        else:
            pytest.fail("the second console did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_halt_through_one_console_shows_on_a_page_refreshed_by_another(
    page: Page, topology: Topology, second_console: str
) -> None:
    first = topology.url("console-prod")
    _SplitProxy.upstreams = {"A": int(first.rsplit(":", 1)[1]), "B": int(second_console.rsplit(":", 1)[1])}
    _SplitProxy.served = {"A": 0, "B": 0}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SplitProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        sign_in(page, base)
        for path, fragment in (("/staging/", "overview-panels"), ("/staging/trading", "trading-panel")):
            page.goto(base + path)
            mark_stale(page, fragment)
            expect_swapped(page, fragment, "staging")
        served_by_b = _SplitProxy.served["B"]
        assert served_by_b >= 2
        # The halt goes to console A (a form post); the page learns it from console B's fragment.
        other = page.context.new_page()
        halt(other, base)
        try:
            expect(page.locator("#trading-state")).to_have_attribute("data-halted", "true", timeout=SWAPPED_WITHIN_MS)
            assert page.evaluate("window.__notReloaded === true")
            assert _SplitProxy.served["B"] > served_by_b
        finally:
            resume(other, base)
    finally:
        server.shutdown()
        server.server_close()
