"""Fault 5: PostgreSQL restarted under load: every app reconnects by itself, nothing half-applied.

Runs on a dedicated embedded PostgreSQL (its own data directory and port), so the shared
server that the rest of the suite uses is never restarted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from raxx.common.db import libpq_url
from raxx.common.pgembed import EmbeddedPostgres, free_port
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.processes import ENVS, Stack, client_order_id
from tests.fixtures.report import ReliabilityReport
from tests.reliability.helpers import Tally, audit_events, gapless, guarded, verify

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

CLIENTS = 3
LOAD_BEFORE_S = 2.0
LOAD_AFTER_S = 4.0
RECOVERY_LIMIT_S = 30.0


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    server.start()
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restart_stack(own_postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[Stack]:
    dbs = DatabaseFactory(admin_url=own_postgres.admin_url())
    built = Stack(dbs, tmp_path / "stack")
    built.workdir.mkdir()
    built.prepare()
    try:
        yield built
    finally:
        built.close()


class Load:
    """API clients placing orders in staging until told to stop; every answer is kept."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.stop = threading.Event()
        self.tally = Tally()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, str, int, str]] = []  # (time, client order id, status, error code)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=10, headers=headers) as api:
            while not self.stop.is_set():
                coid = client_order_id()
                body = {
                    "symbol": "MSFT",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "1",
                    "limit_price": "1.00",
                    "time_in_force": "gtc",
                    "client_order_id": coid,
                }
                try:
                    answer = api.post("/api/staging/orders", json=body)
                except httpx.TransportError as exc:
                    self.tally.error("transport", repr(exc))
                    continue
                code = "" if answer.status_code < 400 else answer.json().get("error", "?")
                with self.lock:
                    self.answers.append((time.monotonic(), coid, answer.status_code, code))
                if answer.status_code == 201:
                    self.tally.ok("orders placed")
                else:
                    self.tally.error(f"refused {answer.status_code} {code}", answer.text)
                    time.sleep(0.05)


def _raptor_orders(stack: Stack) -> dict[str, int]:
    with psycopg.connect(libpq_url(stack.raptor_db["staging"].owner_url)) as conn:
        rows = conn.execute("SELECT client_order_id, count(*) FROM orders GROUP BY client_order_id").fetchall()
    return {coid: int(n) for coid, n in rows}


def _raptor_request_ids(stack: Stack) -> set[str]:
    with psycopg.connect(libpq_url(stack.raptor_db["staging"].owner_url)) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM request_log")}


def test_postgres_restart_under_load_every_app_reconnects_and_nothing_is_half_applied(
    restart_stack: Stack, own_postgres: EmbeddedPostgres, reliability_report: ReliabilityReport
) -> None:
    stack = restart_stack
    for env in ENVS:
        stack.start_raptor(env)
    console = stack.start_console(timeout_s=3.0)
    load = Load(console.url, stack.api_token())
    threads = [guarded(load.tally, "load thread", load.run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_BEFORE_S)

    down_at = time.monotonic()
    own_postgres.stop()  # fast shutdown: every connection of every app is cut
    own_postgres.start()
    own_postgres.wait_ready()
    up_at = time.monotonic()
    deadline = up_at + RECOVERY_LIMIT_S
    recovered_at = None
    while recovered_at is None and time.monotonic() < deadline:
        with load.lock:
            recovered_at = next((t for t, _, status, _ in load.answers if t > up_at and status == 201), None)
        time.sleep(0.05)
    time.sleep(LOAD_AFTER_S)
    load.stop.set()
    for t in threads:
        t.join(30)

    assert recovered_at is not None, f"no order succeeded within {RECOVERY_LIMIT_S} s of the restart"
    assert load.tally.errors["load thread"] == 0, load.tally.samples
    statuses = {status for _, _, status, _ in load.answers}
    assert 500 not in statuses, "a restart must fail requests cleanly, never with an internal error"
    for name in ("raptor-staging", "raptor-prod", "console"):
        assert stack.services[name].process.poll() is None, f"{name} died: {stack.tail(name)}"
        assert httpx.get(stack.services[name].url + "/readyz", timeout=5).status_code == 200

    # Nothing half-applied: every 201 is an order in Raptor, exactly once; every Raptor
    # change has its audit attempt; a refused order sent again lands exactly once.
    orders = _raptor_orders(stack)
    placed = [coid for _, coid, status, _ in load.answers if status == 201]
    refused = [coid for _, coid, status, _ in load.answers if status != 201]
    assert all(orders.get(coid) == 1 for coid in placed)
    assert all(n == 1 for n in orders.values())
    with httpx.Client(base_url=console.url, timeout=10, headers={"Authorization": f"Bearer {load.token}"}) as api:
        for coid in refused:
            again = api.post(
                "/api/staging/orders",
                json={
                    "symbol": "MSFT",
                    "side": "buy",
                    "type": "limit",
                    "quantity": "1",
                    "limit_price": "1.00",
                    "time_in_force": "gtc",
                    "client_order_id": coid,
                },
            )
            assert again.status_code in (200, 201), again.text
    orders = _raptor_orders(stack)
    assert all(orders.get(coid) == 1 for coid in refused)
    events = audit_events(stack.console.owner_url)
    attempts = {e.request_id for e in events if e.phase == "attempt"}
    unaudited = _raptor_request_ids(stack) - attempts
    assert not unaudited, f"Raptor changes with no audit attempt: {sorted(unaudited)[:5]}"
    assert gapless(events)
    chain = verify(stack.console.owner_url)
    assert chain.ok, chain

    reliability_report.record(
        "fault5_postgres_restart",
        order=5,
        title="Fault 5: PostgreSQL restarted under load",
        injected=(
            f"{CLIENTS} API clients placing orders in staging; the PostgreSQL server of every app "
            "(Raptor staging, Raptor prod, console) stopped with a fast shutdown and started again"
        ),
        held=[
            "Raptor staging, Raptor prod and the console reconnected by themselves (no restart); /readyz 200 after",
            "no internal error: refusals during the restart were clean 5xx in the one error shape",
            "every 201 is exactly one order in Raptor; every refused order sent again landed exactly once",
            "every change Raptor made has its audit attempt; the chain is gapless and verifies",
        ],
        figures={
            **load.tally.figures(),
            "postgres_down_to_up_s": round(up_at - down_at, 2),
            "recovery_after_postgres_up_s": round(recovered_at - up_at, 2),
            "orders_in_raptor": sum(orders.values()),
            "refused_then_resent": len(refused),
            "audit_events": len(events),
        },
    )
