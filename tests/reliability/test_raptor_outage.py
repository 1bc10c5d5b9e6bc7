"""Fault 1: Raptor staging killed while operators read both environments and act on prod."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import ENVS, Stack, client_order_id, sign_in
from tests.fixtures.report import ReliabilityReport
from tests.reliability.helpers import Deadline, Tally, audit_events, guarded, median_ms

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

TIMEOUT_S = 2.0
BEFORE_S, OUTAGE_S, AFTER_S = 2.0, 4.0, 3.0


def _prod_orders(stack: Stack, tally: Tally, stop: threading.Event, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Raxx-Confirm": "prod"}
    with httpx.Client(base_url=stack.services["console"].url, timeout=10, headers=headers) as api:
        while not stop.is_set():
            body = {
                "symbol": "MSFT",
                "side": "buy",
                "type": "market",
                "quantity": "1",
                "client_order_id": client_order_id(),
            }
            started = time.monotonic()
            placed = api.post("/api/prod/orders", json=body)
            if placed.status_code == 201:
                tally.ok("prod action", time.monotonic() - started)
            else:
                tally.error("prod action", f"{placed.status_code} {placed.text}")


def _pages(stack: Stack, env: str, tally: Tally, stop: threading.Event, outage: threading.Event) -> None:
    browser, _ = sign_in(stack.services["console"].url)
    try:
        while not stop.is_set():
            started = time.monotonic()
            outage_at_start = outage.is_set()
            page = browser.get(f"/{env}/orders")
            took = time.monotonic() - started
            # A request that overlapped the outage at either end belongs to it.
            during_outage = outage_at_start or outage.is_set()
            rendered = page.status_code in (200, 502, 503, 504) and f'data-env="{env}"' in page.text
            if page.status_code == 200 and not during_outage:
                tally.ok(f"{env} page", took)
            elif env == "staging" and during_outage and rendered and "unreachable" in page.text:
                # The outage is visible: banner of the right environment and a clear error, in time.
                tally.ok("staging page during outage (banner + error)", took)
                if took > TIMEOUT_S + 1.0:
                    tally.error("staging page too slow during outage", f"{took:.2f} s")
            elif page.status_code == 200:
                tally.ok(f"{env} page", took)
            else:
                tally.error(f"{env} page", f"{page.status_code} {page.text[:200]}")
    finally:
        browser.close()


def _first_staging_success(url: str, token: str, deadline: Deadline) -> float | None:
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=5, headers={"Authorization": f"Bearer {token}"}) as api:
        while deadline:
            if api.get("/api/staging/orders").status_code == 200:
                return time.monotonic() - started
            time.sleep(0.05)
    return None


def test_staging_outage_leaves_prod_untouched_and_staging_recovers_without_console_restart(
    stack: Stack, tmp_path: Path, reliability_report: ReliabilityReport
) -> None:
    for env in ENVS:
        stack.start_raptor(env)
    console = stack.start_console(timeout_s=TIMEOUT_S)
    token = stack.api_token()
    tally, stop, outage = Tally(), threading.Event(), threading.Event()
    workers = [
        guarded(tally, "prod action", _prod_orders, stack, tally, stop, token),
        guarded(tally, "prod page", _pages, stack, "prod", tally, stop, outage),
        guarded(tally, "staging page", _pages, stack, "staging", tally, stop, outage),
    ]
    for w in workers:
        w.start()
    try:
        time.sleep(BEFORE_S)
        outage.set()  # before the kill: a page answered between the two belongs to the outage
        stack.kill("raptor-staging")
        time.sleep(OUTAGE_S)
        stack.start_raptor("staging", wait=False)
        restarted = time.monotonic()
        recovered_after = _first_staging_success(console.url, token, Deadline(30))
        outage.clear()
        time.sleep(AFTER_S)
    finally:
        stop.set()
        for w in workers:
            w.join(30)

    assert console.process.poll() is None, "the console must not be restarted"
    assert recovered_after is not None, "staging did not recover through the same console"
    assert tally.errors["prod action"] == 0, tally.samples
    assert tally.errors["prod page"] == 0, tally.samples
    assert tally.served["prod action"] > 0
    assert tally.served["staging page during outage (banner + error)"] > 0
    assert tally.errors["staging page too slow during outage"] == 0, tally.samples
    assert tally.errors["staging page"] == 0, tally.samples
    prod_audited = [
        e
        for e in audit_events(stack.console.owner_url)
        if e.action == "order.place" and e.phase == "attempt" and e.environment == "prod"
    ]
    assert len(prod_audited) == tally.served["prod action"]

    reliability_report.record(
        "fault1_raptor_staging_killed",
        order=1,
        title="Fault 1: Raptor staging killed",
        injected=(
            f"SIGKILL of Raptor staging after {BEFORE_S:g} s of load, restarted {OUTAGE_S:g} s later, "
            "while operators read staging and prod order pages and place prod orders through the console API"
        ),
        held=[
            "prod: zero errors on pages and actions during the outage",
            f"staging pages render with the staging banner and 'backend unreachable' within the "
            f"{TIMEOUT_S:g} s client timeout",
            "staging recovers through the same console process (no restart)",
            "every prod action has its audit attempt",
        ],
        figures={
            **tally.figures(),
            "staging_recovery_seconds_after_restart": round(recovered_after, 2),
            "raptor_restart_to_ready_seconds": round(time.monotonic() - restarted, 2),
            "median_ms": {k: median_ms(v) for k, v in sorted(tally.latencies.items())},
            "prod_actions_taken": tally.served["prod action"],
            "prod_actions_audited": len(prod_audited),
        },
    )
