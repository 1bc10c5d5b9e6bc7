"""Fault 2: Raptor staging slowed beyond the console's timeout by a delaying TCP proxy."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fixtures.processes import ENVS, Stack
from tests.fixtures.proxy import fault_proxy
from tests.fixtures.report import ReliabilityReport
from tests.reliability.helpers import Deadline, Tally, guarded, median_ms

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

TIMEOUT_S = 1.0
DELAY_S = 3.0
PHASE_S = 4.0
STAGING_CLIENTS = 6  # more slow requests in flight than a shared pool could absorb unnoticed


def _read(url: str, token: str, env: str, label: str, tally: Tally, deadline: Deadline) -> None:
    with httpx.Client(base_url=url, timeout=15, headers={"Authorization": f"Bearer {token}"}) as api:
        while deadline:
            started = time.monotonic()
            got = api.get(f"/api/{env}/orders")
            took = time.monotonic() - started
            if got.status_code == 200:
                tally.ok(label, took)
            elif env == "staging" and got.status_code in (502, 504) and f"no answer within {TIMEOUT_S:g} s" in got.text:
                tally.ok(f"{label}: clean timeout", took)
                if took > TIMEOUT_S + 1.5:
                    tally.error(f"{label}: timeout too late", f"{took:.2f} s")
            else:
                tally.error(label, f"{got.status_code} {got.text[:200]} after {took:.2f} s")


def _phase(url: str, token: str, tally: Tally, phase: str, *, staging_load: bool) -> None:
    deadline = Deadline(PHASE_S)
    threads = [guarded(tally, f"prod ({phase})", _read, url, token, "prod", f"prod ({phase})", tally, deadline)]
    if staging_load:
        threads += [
            guarded(tally, "staging (slowed)", _read, url, token, "staging", "staging (slowed)", tally, deadline)
            for _ in range(STAGING_CLIENTS)
        ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PHASE_S + 30)


def test_slow_staging_times_out_cleanly_and_leaves_prod_latency_alone(
    stack: Stack, reliability_report: ReliabilityReport
) -> None:
    for env in ENVS:
        stack.start_raptor(env)
    with fault_proxy("127.0.0.1", stack.raptor_ports["staging"]) as slow:
        console = stack.start_console(
            raptor_urls={"staging": f"http://{slow.address}", "prod": stack.raptor_url("prod")}, timeout_s=TIMEOUT_S
        )
        token = stack.api_token()
        tally = Tally()
        _phase(console.url, token, tally, "baseline", staging_load=False)
        slow.delay = DELAY_S
        _phase(console.url, token, tally, "staging slowed", staging_load=True)

    base = median_ms(tally.latencies["prod (baseline)"])
    during = median_ms(tally.latencies["prod (staging slowed)"])
    assert sum(tally.errors.values()) == 0, tally.samples
    assert tally.served["staging (slowed): clean timeout"] > 0
    assert tally.served["staging (slowed)"] == 0, "no staging read may outlast the delay"
    assert base is not None
    assert during is not None
    # Unaffected: no shared pool exhaustion; allow for a 2-core machine's noise, not for a 1 s stall.
    assert during < max(3 * base, base + 250), (base, during)

    reliability_report.record(
        "fault2_raptor_slowed",
        order=2,
        title="Fault 2: Raptor staging slowed beyond the console's timeout",
        injected=(
            f"a TCP proxy between the console and Raptor staging holding every response chunk {DELAY_S:g} s "
            f"(console timeout {TIMEOUT_S:g} s), {STAGING_CLIENTS} clients reading staging and one reading prod "
            f"for {PHASE_S:g} s, after a {PHASE_S:g} s baseline"
        ),
        held=[
            "every staging request failed cleanly: a JSON error naming the timeout "
            f"('no answer within {TIMEOUT_S:g} s'), within the timeout plus 1.5 s",
            "prod latency stayed within 3x its baseline median (no shared pool exhaustion)",
        ],
        figures={
            **tally.figures(),
            "prod_median_ms_baseline": base,
            "prod_median_ms_while_staging_slow": during,
            "staging_median_ms_to_timeout": median_ms(tally.latencies["staging (slowed): clean timeout"]),
        },
    )
