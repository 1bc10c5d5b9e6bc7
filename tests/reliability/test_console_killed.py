"""Fault 4: the console SIGKILLed in the middle of a burst of 500 mutating actions."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from raxx.common.aio import run_sync
from raxx.common.clock import FrozenClock, SystemClock
from raxx.common.db import create_engine, libpq_url
from raxx.common.environments import EnvironmentRegistry
from raxx.common.secrets import DotenvSecrets
from raxx.console.audit.lookup import HttpRequestLookup
from raxx.console.audit.reconciler import ReconcileReport, reconcile
from tests.fixtures.processes import ENVS, Stack, client_order_id
from tests.fixtures.report import ReliabilityReport
from tests.reliability.helpers import Tally, audit_events, gapless, guarded, verify

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

BURST = 500
CLIENTS = 4
KILL_AFTER_ANSWERS = 150


def _burst(url: str, token: str, share: int, tally: Tally, answered: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {token}"}) as api:
        for _ in range(share):
            body = {
                "symbol": "AAPL",
                "side": "buy",
                "type": "limit",
                "quantity": "1",
                "limit_price": "1.00",
                "time_in_force": "gtc",
                "client_order_id": client_order_id(),
            }
            try:
                placed = api.post("/api/staging/orders", json=body)
            except httpx.TransportError as exc:
                tally.error("actions sent, console gone", repr(exc))
                continue
            if placed.status_code == 201:
                tally.ok("actions answered 201")
            else:
                tally.error("actions refused", f"{placed.status_code} {placed.text}")
            if sum(tally.served.values()) >= KILL_AFTER_ANSWERS:
                answered.set()


def _raptor_changes(stack: Stack) -> dict[str, str]:
    """Raptor staging's own record of every change it made: request id -> action."""
    with psycopg.connect(libpq_url(stack.raptor_db["staging"].owner_url)) as conn:
        return dict(conn.execute("SELECT request_id, action FROM request_log").fetchall())


def _raptor_order_count(stack: Stack) -> int:
    with psycopg.connect(libpq_url(stack.raptor_db["staging"].owner_url)) as conn:
        row = conn.execute("SELECT count(*) FROM orders").fetchone()
        assert row is not None
        return int(row[0])


def _reconcile(stack: Stack, registry_file: Path) -> ReconcileReport:
    async def work() -> ReconcileReport:
        engine = create_engine(stack.console.runtime_url, application_name="reliability-reconcile", pool_size=2)
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                lookup = HttpRequestLookup(
                    EnvironmentRegistry.from_toml(registry_file), DotenvSecrets(stack.workdir / "secrets.env"), client
                )
                # As if the reconciler ran its periodic pass 11 minutes later.
                later = FrozenClock(SystemClock().now() + timedelta(minutes=11))
                return await reconcile(engine, lookup, older_than=timedelta(minutes=10), clock=later)
        finally:
            await engine.dispose()

    return run_sync(work)


def test_console_killed_mid_burst_loses_no_audit_attempt_and_the_reconciler_closes_the_rest(
    stack: Stack, reliability_report: ReliabilityReport
) -> None:
    for env in ENVS:
        stack.start_raptor(env)
    console = stack.start_console()
    token = stack.api_token()
    tally, answered = Tally(), threading.Event()
    clients = [
        guarded(tally, "load thread", _burst, console.url, token, BURST // CLIENTS, tally, answered)
        for _ in range(CLIENTS)
    ]
    for c in clients:
        c.start()
    assert answered.wait(60), f"the burst never reached {KILL_AFTER_ANSWERS} answers: {tally.samples}"
    stack.kill("console", signal.SIGKILL)
    killed_at = time.monotonic()
    for c in clients:
        c.join(60)
    assert console.process.returncode == -signal.SIGKILL
    assert tally.errors["load thread"] == 0, tally.samples

    changes = _raptor_changes(stack)
    events = audit_events(stack.console.owner_url)
    attempts = {e.request_id: e for e in events if e.phase == "attempt" and e.action == "order.place"}
    closed = {e.attempt_id for e in events if e.phase == "outcome"}
    dangling_before = [a for a in attempts.values() if a.event_id not in closed]
    unaudited = sorted(set(changes) - set(attempts))
    assert not unaudited, f"Raptor changes with no audit attempt: {unaudited[:5]}"
    assert _raptor_order_count(stack) == len(changes)

    registry_file = stack.workdir / "console-environments.toml"
    report = _reconcile(stack, registry_file)
    after = audit_events(stack.console.owner_url)
    closed_after = {e.attempt_id: e for e in after if e.phase == "outcome"}
    still_open = [a for a in attempts.values() if a.event_id not in closed_after]
    assert not still_open
    assert report.examined == len(dangling_before)
    assert report.closed["unknown"] == 0, "Raptor was up: every dangling attempt must be classified"
    for attempt in dangling_before:
        verdict = closed_after[attempt.event_id].outcome
        assert verdict == ("ok" if attempt.request_id in changes else "failed"), attempt.request_id
    assert gapless(after)
    chain = verify(stack.console.owner_url)
    assert chain.ok, chain

    reliability_report.record(
        "fault4_console_sigkill",
        order=4,
        title="Fault 4: the console SIGKILLed mid-burst",
        injected=(
            f"a burst of {BURST} order placements from {CLIENTS} API clients; SIGKILL of the console "
            f"after {KILL_AFTER_ANSWERS} answers"
        ),
        held=[
            "every change Raptor made (its request log) has an audit attempt with the same request id",
            "the reconciler classified every dangling attempt (ok when Raptor has the request id, failed otherwise)",
            "the chain is gapless and verifies after the kill and the reconciliation",
        ],
        figures={
            **tally.figures(),
            "raptor_changes": len(changes),
            "audit_attempts": len(attempts),
            "dangling_attempts": len(dangling_before),
            "reconciled": dict(report.closed),
            "unaudited_raptor_changes": len(unaudited),
            "audit_events_after_reconcile": len(after),
            "chain_verified": chain.ok,
            "clients_drained_seconds_after_kill": round(time.monotonic() - killed_at, 2),
        },
    )
