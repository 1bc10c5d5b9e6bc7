"""Two console processes behind nginx (round-robin, no sticky sessions) share sessions,
environment switches and one audit chain."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.fixtures.nginx import nginx_in_front
from tests.fixtures.processes import ENVS, Stack, client_order_id, sign_in
from tests.fixtures.report import ReliabilityReport
from tests.reliability.helpers import audit_events, gapless, verify

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

ACTIONS_PER_WORKER = 30
WORKERS = 4


def _two_consoles_behind_nginx(stack: Stack, tmp_path: Path) -> tuple[list[str], object]:
    for env in ENVS:
        stack.start_raptor(env, wait=False)
    for env in ENVS:
        stack.wait_ready(f"raptor-{env}")
    consoles = [stack.start_console(f"console-{i}", wait=False) for i in (1, 2)]
    for c in consoles:
        stack.wait_ready(c.name)
    return [c.url for c in consoles], nginx_in_front(tmp_path / "nginx", [c.url for c in consoles])


def _upstream(response: httpx.Response) -> str:
    """Which console served it, as nginx says (``127.0.0.1:PORT``)."""
    return response.headers.get("x-raxx-upstream", "?")


def _by_instance(counts: Counter[str], upstreams: list[str]) -> dict[str, int]:
    names = {url.removeprefix("http://"): f"console-{i}" for i, url in enumerate(upstreams, 1)}
    return {names.get(addr, addr): n for addr, n in sorted(counts.items())}


def _place(api: httpx.Client, env: str) -> httpx.Response:
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "quantity": "1",
        "limit_price": "1.00",
        "time_in_force": "gtc",
        "client_order_id": client_order_id(),
    }
    headers = {"X-Raxx-Confirm": env} if env == "prod" else {}
    return api.post(f"/api/{env}/orders", json=body, headers=headers)


def test_two_consoles_behind_nginx_share_sessions_switches_and_one_audit_chain(
    stack: Stack, tmp_path: Path, reliability_report: ReliabilityReport
) -> None:
    upstreams, proxy_cm = _two_consoles_behind_nginx(stack, tmp_path)
    with proxy_cm as proxy:  # type: ignore[attr-defined]
        # A session made through nginx is served by both instances (round-robin, no stickiness).
        browser, csrf = sign_in(proxy.url)
        seen: Counter[str] = Counter()
        for _ in range(8):
            page = browser.get("/staging/orders")
            assert page.status_code == 200, page.text
            assert 'data-env="staging"' in page.text
            seen[_upstream(page)] += 1
        assert len(seen) == 2, f"round-robin should reach both consoles: {seen}"

        # The session cookie made by one instance works directly against the other.
        cookies = dict(browser.cookies)
        direct = {url: httpx.get(url + "/staging/orders", cookies=cookies, timeout=10) for url in upstreams}
        assert all(r.status_code == 200 for r in direct.values()), {u: r.status_code for u, r in direct.items()}

        # A switch made through instance 1 is seen by instance 2.
        switched = httpx.post(
            upstreams[0] + "/switch",
            data={"csrf_token": csrf, "from_env": "staging", "to_env": "prod", "confirmed": "yes"},
            cookies=cookies,
            timeout=10,
        )
        assert switched.status_code == 303, switched.text
        landed = httpx.get(upstreams[1] + "/", cookies=cookies, timeout=10)
        assert landed.headers["location"] == "/prod/"

        # Concurrent audited actions through nginx (so through both instances).
        token = stack.api_token()
        served: Counter[str] = Counter()
        statuses: Counter[int] = Counter()

        def burst(worker: int) -> None:
            env = ENVS[worker % 2]
            with httpx.Client(base_url=proxy.url, timeout=20, headers={"Authorization": f"Bearer {token}"}) as api:
                for _ in range(ACTIONS_PER_WORKER):
                    placed = _place(api, env)
                    statuses[placed.status_code] += 1
                    served[_upstream(placed)] += 1

        started = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(burst, range(WORKERS)))
        elapsed = time.monotonic() - started
        browser.close()

    total = WORKERS * ACTIONS_PER_WORKER
    assert statuses == Counter({201: total}), statuses
    assert len(served) == 2, served
    events = audit_events(stack.console.owner_url)
    places = [e for e in events if e.action == "order.place"]
    attempts = [e for e in places if e.phase == "attempt"]
    outcomes = [e for e in places if e.phase == "outcome" and e.outcome == "ok"]
    assert len(attempts) == len(outcomes) == total
    assert {o.attempt_id for o in outcomes} == {a.event_id for a in attempts}
    assert gapless(events)
    report = verify(stack.console.owner_url)
    assert report.ok, report

    reliability_report.record(
        "scale_out",
        order=0,
        title="Scale-out: two console processes behind nginx",
        injected=(
            "two `raxx console serve` processes on one console database behind Debian's nginx "
            "(round-robin upstream, no sticky sessions); a login, a switch and "
            f"{total} concurrent API orders from {WORKERS} clients through nginx"
        ),
        held=[
            "a session created through one instance works through the other",
            "an environment switch made through one instance is seen by the other",
            "every action has one attempt and one outcome; one chain, gapless, verifies",
        ],
        figures={
            "page_requests_by_instance": _by_instance(seen, upstreams),
            "actions_taken": total,
            "actions_by_instance": _by_instance(served, upstreams),
            "audit_events": len(events),
            "audit_attempts": len(attempts),
            "audit_outcomes_ok": len(outcomes),
            "chain_verified": report.ok,
            "chain_gapless": True,
            "burst_seconds": round(elapsed, 2),
            "actions_per_second": round(total / elapsed, 1),
        },
    )
