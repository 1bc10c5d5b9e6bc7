"""Fault 3: the console's database unavailable, then read-only: mutations fail closed."""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from raxx.common.db import libpq_url
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.processes import ENVS, Stack, client_order_id
from tests.fixtures.proxy import fault_proxy
from tests.fixtures.report import ReliabilityReport

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]

ATTEMPTS = 10


def _raptor_changes(stack: Stack) -> int:
    with psycopg.connect(libpq_url(stack.raptor_db["prod"].owner_url)) as conn:
        row = conn.execute("SELECT count(*) FROM request_log").fetchone()
        assert row is not None
        return int(row[0])


def _try_mutations(api: httpx.Client) -> list[httpx.Response]:
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"}
    return [
        api.post(
            "/api/prod/orders", json={**body, "client_order_id": client_order_id()}, headers={"X-Raxx-Confirm": "prod"}
        )
        for _ in range(ATTEMPTS)
    ]


def _read_only(test_databases: DatabaseFactory, database: str, on: bool) -> None:
    with psycopg.connect(libpq_url(test_databases.admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                sql.Identifier(database), sql.SQL("on" if on else "off")
            )
        )
        # Open connections keep their setting: end them so the pool reconnects under the new one.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))


def test_console_database_down_or_read_only_fails_closed(
    stack: Stack, test_databases: DatabaseFactory, reliability_report: ReliabilityReport
) -> None:
    for env in ENVS:
        stack.start_raptor(env)
    url = make_url(stack.console.runtime_url)
    with fault_proxy(url.host or "127.0.0.1", url.port or 5432) as pg:
        proxied = url.set(host="127.0.0.1", port=pg.port).render_as_string(hide_password=False)
        console = stack.start_console(database_url=proxied, extra_env={"CONSOLE_API_TOKEN_CACHE_S": "60"})
        token = stack.api_token()
        api = httpx.Client(base_url=console.url, timeout=15, headers={"Authorization": f"Bearer {token}"})
        with api:
            assert api.get("/api/prod/orders").status_code == 200  # warms the token cache
            before = _raptor_changes(stack)

            pg.cut()
            cut_at = time.monotonic()
            down = _try_mutations(api)
            ready_down = httpx.get(console.url + "/readyz", timeout=15)
            after_down = _raptor_changes(stack)
            pg.restore()

            _read_only(test_databases, stack.console.database, on=True)
            try:
                read_only = _try_mutations(api)
                after_read_only = _raptor_changes(stack)
            finally:
                _read_only(test_databases, stack.console.database, on=False)
            recovered = _until_acting_again(api, cut_at)

    assert after_down == before, "a mutation reached Raptor while the console could not audit it"
    assert after_read_only == before, "a mutation reached Raptor while the audit trail was read-only"
    for response in down + read_only:
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "audit_unavailable", response.text
    assert ready_down.status_code == 503
    assert "database" in ready_down.text
    assert recovered is not None, "the console did not act again once its database was back"

    reliability_report.record(
        "fault3_console_database",
        order=3,
        title="Fault 3: the console's database unavailable, then read-only",
        injected=(
            "the console's PostgreSQL connections cut by a TCP proxy (every connection dropped, new ones refused), "
            f"then the database set read-only; {ATTEMPTS} prod order placements tried in each phase"
        ),
        held=[
            "no mutation reached Raptor in either phase (fail closed: its request log did not grow)",
            "each refusal is a 503 audit_unavailable JSON error telling the operator why",
            "/readyz says the database is unreachable",
            "mutations work again once the database is back, without a console restart",
        ],
        figures={
            "mutations_tried_database_down": len(down),
            "mutations_tried_read_only": len(read_only),
            "refused_503_audit_unavailable": sum(r.status_code == 503 for r in down + read_only),
            "raptor_changes_during_fault": after_read_only - before,
            "readyz_status_database_down": ready_down.status_code,
            "seconds_from_cut_to_first_success_after_restore": round(recovered, 2),
        },
    )


def _until_acting_again(api: httpx.Client, since: float, limit_s: float = 20.0) -> float | None:
    """Seconds from ``since`` until a prod order is placed again (None: not within ``limit_s``)."""
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"}
    while time.monotonic() - since < limit_s:
        placed = api.post(
            "/api/prod/orders", json={**body, "client_order_id": client_order_id()}, headers={"X-Raxx-Confirm": "prod"}
        )
        if placed.status_code == 201:
            return time.monotonic() - since
        time.sleep(0.1)
    return None
