"""Audit events carry the session's environment and the page the action came from (issue 18,
item 5), inside the hash: rows written before these fields and rows written after verify
together, and an edit of either field (or of the body version) is found."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.console.audit.canonical import dump_body, format_timestamp
from raxx.console.audit.export import export_events
from raxx.console.audit.repository import EventFilter
from raxx.console.audit.service import AuditTrail
from raxx.console.audit.verify import EXIT_EDITED, verify_chain
from tests.console.audit.helpers import audit_context, tamper


async def _append_version_1(engine: AsyncEngine) -> None:
    """An event exactly as the console wrote it before 2026-12-03 (body version 1)."""
    body = {
        "v": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": format_timestamp(datetime.now(UTC)),
        "actor_id": None,
        "actor_name": "alice",
        "session_hash": None,
        "environment": "staging",
        "action": "order.cancel",
        "target": "ord-old",
        "params": {},
        "phase": "outcome",
        "outcome": "ok",
        "attempt_id": None,
        "http_status": 200,
        "error": None,
        "request_id": "req-old",
        "client_ip": None,
        "user_agent": None,
    }
    async with engine.begin() as conn:
        await conn.execute(text("SELECT * FROM audit_append(:b)"), {"b": dump_body(body).decode()})


async def _rows(engine: AsyncEngine) -> list[tuple[int, int, str | None, str | None]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT seq, body_version, session_env, origin FROM audit_event ORDER BY seq"))
        return [(r[0], r[1], r[2], r[3]) for r in result]


async def test_old_and_new_events_verify_together_and_carry_the_session_env(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    await _append_version_1(runtime_engine)
    ctx = audit_context(environment="staging", session_env="prod", origin="/staging/orders/new")
    async with trail.action(ctx, "order.place", target="BUY 1 GE"):
        pass
    await trail.record(audit_context(environment=None, session_env=None, origin=None), "auth.login", outcome="ok")
    assert await _rows(runtime_engine) == [
        (1, 1, None, None),
        (2, 2, "prod", "/staging/orders/new"),
        (3, 2, "prod", "/staging/orders/new"),
        (4, 2, None, None),
    ]
    report = await verify_chain(runtime_engine)
    assert report.ok, report.findings
    assert report.count == 4


async def test_editing_the_session_env_the_page_or_the_body_version_is_found(
    trail: AuditTrail, runtime_engine: AsyncEngine, superuser_url: str
) -> None:
    for n in range(4):
        await trail.record(
            audit_context(session_env="prod", origin=f"/staging/orders/{n}"), "order.cancel", outcome="ok"
        )
    assert (await verify_chain(runtime_engine)).ok
    with tamper(superuser_url) as conn:
        conn.execute("UPDATE audit_event SET session_env = 'staging' WHERE seq = 1")  # hide the other tab
        conn.execute("UPDATE audit_event SET origin = NULL WHERE seq = 2")
        conn.execute("UPDATE audit_event SET body_version = 1 WHERE seq = 3")  # pretend it predates the fields
    report = await verify_chain(runtime_engine)
    assert [(f.kind, f.seq) for f in report.findings] == [("edited", 1), ("edited", 2), ("edited", 3)]
    assert report.exit_code() == EXIT_EDITED


async def test_the_export_carries_the_session_env_the_page_and_the_body_version(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    await trail.record(audit_context(session_env="prod", origin="/staging/orders"), "order.cancel", outcome="ok")
    out = io.StringIO()
    assert await export_events(runtime_engine, out, EventFilter()) == 1
    row = json.loads(out.getvalue())
    assert (row["environment"], row["session_env"], row["origin"], row["body_version"]) == (
        "staging",
        "prod",
        "/staging/orders",
        2,
    )
