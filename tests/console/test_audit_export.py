"""The audit trail's CSV export from the console, over real HTTP (uvicorn): streamed with
flat memory, neutralized cells, audited as its own action, including a client that leaves."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.canonical import BODY_VERSION, format_timestamp
from raxx.console.audit.export import COLUMNS
from tests.console.conftest import RunningRaptor, add_team, raptor_tokens
from tests.console.helpers import audit_events, audit_head, signed_in
from tests.fixtures.apps import console_app
from tests.fixtures.servers import ThreadedServer, serve

#: Events loaded for the memory test; RAXX_EXPORT_EVENTS=1000000 measured the figure in docs/console-api.md once.
MANY = int(os.environ.get("RAXX_EXPORT_EVENTS", "200000"))
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def load_events(db: ProvisionedDatabase, count: int, *, target: str = "AAPL") -> None:
    """``count`` chained events appended set-wise (generate_series feeding ``audit_append``)."""
    template = {
        "v": BODY_VERSION,
        "event_id": None,
        "occurred_at": format_timestamp(datetime.now(UTC)),
        "actor_id": None,
        "actor_name": "loader",
        "session_hash": None,
        "environment": "staging",
        "action": "order.place",
        "target": target,
        "params": {"symbol": "AAPL", "quantity": "1"},
        "phase": "outcome",
        "outcome": "ok",
        "attempt_id": None,
        "http_status": 303,
        "error": None,
        "request_id": None,
        "client_ip": "127.0.0.1",
        "user_agent": "load",
    }
    with psycopg.connect(db.runtime_url, autocommit=True) as conn:
        conn.execute(
            "SELECT count(*) FROM generate_series(1, %s) i,"
            # the body names its row (i): a call that did not depend on it would run once, not per row
            " LATERAL audit_append(jsonb_set(jsonb_set(%s::jsonb, '{event_id}', to_jsonb(gen_random_uuid()::text)),"
            " '{request_id}', to_jsonb('bulk-' || i))::text)",
            (count, orjson.dumps(template).decode()),
        )


@pytest.fixture
def server(
    console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]
) -> Iterator[ThreadedServer]:
    asyncio.run(add_team(console_db))
    with serve(console_app(console_db, registry_file, raptor_tokens(raptors))) as running:
        yield running


@pytest.fixture
async def browser(server: ThreadedServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        await signed_in(client)
        yield client


async def _outcome(db: ProvisionedDatabase, since: int) -> dict[str, object]:
    """The export's outcome, which the server writes when the stream ends (after the client saw it end)."""
    for _ in range(100):
        done = [
            e for e in audit_events(db, since_seq=since) if e["action"] == "audit.export" and e["phase"] == "outcome"
        ]
        if done:
            return done[0]
        await asyncio.sleep(0.1)
    raise AssertionError("the export's outcome was never recorded")


async def test_a_large_export_streams_with_flat_memory_and_is_audited(
    browser: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    load_events(console_db, MANY)
    head = audit_head(console_db)
    lines, size, samples = 0, 0, []
    before = _rss()
    async with browser.stream("GET", "/staging/audit/export.csv", params={"action": "order.place"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\r\n")
            size += len(chunk)
            if lines // 20_000 > len(samples):
                samples.append(_rss())
    assert lines == MANY + 1  # the header and every event
    grown = max(samples) - before
    print(f"exported {MANY} events, {size} bytes; RSS grew {grown / 2**20:.1f} MiB; samples {samples}")
    # Holding the rows (or the file: ~{size} bytes) would grow by far more than this.
    assert grown < 48 * 2**20, (grown, size)
    assert max(samples[3:]) - samples[2] < 24 * 2**20, samples  # flat: no growth with the rows read
    outcome = await _outcome(console_db, head)
    assert outcome["outcome"] == "ok"
    assert outcome["environment"] == "staging"
    assert outcome["params"] == {"rows": MANY}


async def test_export_cells_are_neutralized_and_filters_apply(
    browser: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    load_events(console_db, 3, target='=HYPERLINK("http://x")')
    response = await browser.get("/staging/audit/export.csv", params={"action": "order.place"})
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(COLUMNS)
    targets = {r[COLUMNS.index("target")] for r in rows[1:]}
    assert targets == {'\'=HYPERLINK("http://x")'}
    attempt = [e for e in audit_events(console_db) if e["action"] == "audit.export" and e["phase"] == "attempt"]
    assert attempt[-1]["params"]["filters"] == {"action": "order.place", "environment": "staging"}


async def test_a_client_that_leaves_mid_stream_leaves_a_failed_outcome(
    browser: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    load_events(console_db, 50_000)
    head = audit_head(console_db)
    async with browser.stream("GET", "/staging/audit/export.csv") as response:
        async for _ in response.aiter_bytes():
            break  # read one chunk, then hang up
    outcome = await _outcome(console_db, head)
    assert outcome["outcome"] == "failed"
    assert int(outcome["params"]["rows"]) < 50_000  # type: ignore[index]
    assert "went away" in str(outcome["error"]) or "rows" in str(outcome["error"])


async def test_a_reader_without_the_audit_role_gets_no_export(server: ThreadedServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        await signed_in(client, "olga")
        response = await client.get("/staging/audit/export.csv")
    assert response.status_code == 403
