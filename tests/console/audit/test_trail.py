"""Attempt, outcome and single events as stored; the action helper's outcomes; the chain verifies."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.clock import FrozenClock
from raxx.common.errors import Forbidden
from raxx.common.provision import ProvisionedDatabase
from raxx.console.apitoken.format import new_token
from raxx.console.audit import repository
from raxx.console.audit.canonical import GENESIS_HASH, sanitize_params
from raxx.console.audit.service import AuditTrail, OutcomeAlreadyRecorded
from raxx.console.audit.verify import verify_chain
from tests.console.audit.helpers import FakeRaptor, audit_context


async def _rows(engine: AsyncEngine) -> list[repository.EventRecord]:
    async with engine.connect() as conn:
        return [e async for e in repository.stream_events(conn, repository.EventFilter())]


async def test_attempt_then_outcome_are_linked_and_chained(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    attempt = await trail.attempt(audit_context(), "order.cancel", target="ord-1", params={"reason": "fat finger"})
    outcome = await trail.outcome(attempt, "ok", http_status=200, params={"status": "cancelled"})

    first, second = await _rows(runtime_engine)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash == attempt.hash
    assert second.hash == outcome.hash
    assert (first.phase, first.outcome, first.attempt_id) == ("attempt", None, None)
    assert (second.phase, second.outcome, second.attempt_id) == ("outcome", "ok", attempt.event_id)
    assert second.http_status == 200
    assert first.environment == second.environment == "staging"
    assert first.action == second.action == "order.cancel"
    assert first.target == second.target == "ord-1"
    assert first.request_id == second.request_id == "req-0001"
    assert first.actor_id == uuid.UUID("6f1c0d4e-8a52-4a8e-9d0c-3b1f6f0a9e11")
    report = await verify_chain(runtime_engine)
    assert report.ok, report.summary()
    assert (report.count, report.head_seq, report.head_hash) == (2, 2, outcome.hash)


async def test_session_id_is_stored_only_as_its_sha256(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    await trail.record(audit_context(session_id="s3cr3t-session"), "auth.login", outcome="ok")
    (event,) = await _rows(runtime_engine)
    assert event.session_hash == hashlib.sha256(b"s3cr3t-session").hexdigest()
    async with runtime_engine.connect() as conn:
        dump = (await conn.execute(text("SELECT row_to_json(e)::text FROM audit_event e"))).scalar_one()
    assert "s3cr3t-session" not in dump


async def test_secrets_in_params_are_redacted_everywhere(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    params = {
        "password": "hunter2",
        "nested": {"Authorization": "Bearer abc", "X-Api-Key": "k-123", "qty": 3},
        "list": [{"csrf_token": "t-456"}],
        "price": 123.45,
        "big": 2**60,
        "note": "ok",
    }
    await trail.record(audit_context(), "user.update", outcome="ok", params=params)
    (event,) = await _rows(runtime_engine)
    assert event.params == {
        "password": "[redacted]",
        "nested": {"Authorization": "[redacted]", "X-Api-Key": "[redacted]", "qty": 3},
        "list": [{"csrf_token": "[redacted]"}],
        "price": "123.45",
        "big": str(2**60),
        "note": "ok",
    }
    async with runtime_engine.connect() as conn:
        dump = (await conn.execute(text("SELECT row_to_json(e)::text FROM audit_event e"))).scalar_one()
    for secret in ("hunter2", "Bearer abc", "k-123", "t-456"):
        assert secret not in dump
    assert (await verify_chain(runtime_engine)).ok


def test_redaction_keeps_what_names_a_token_and_hides_what_holds_one() -> None:
    plaintext = new_token()[2]
    params = {
        "token_id": "0123456789abcdef",
        "token_environments": ["prod"],
        "session_env": "prod",
        "csrf_token": "t-1",
        "confirm_token": "t-2",
        "refresh-token": "t-3",
        "session_id": "s-1",
        "name": "my script",
        "reason": f"pasted {plaintext} by mistake",
        "nested": [{"note": plaintext[:40]}],
    }
    assert sanitize_params(params) == {
        "token_id": "0123456789abcdef",
        "token_environments": ["prod"],
        "session_env": "prod",
        "csrf_token": "[redacted]",
        "confirm_token": "[redacted]",
        "refresh-token": "[redacted]",
        "session_id": "[redacted]",
        "name": "my script",
        "reason": "[redacted]",
        "nested": [{"note": "[redacted]"}],
    }


async def test_untrusted_client_strings_cannot_forge_lines(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    ctx = audit_context(
        client_ip="10.0.0.1\r\nevent=login outcome=ok",
        user_agent="curl\x00/8\u2028fake\u202e" + "A" * 2000,
        actor_name="mallory\nadmin",
    )
    await trail.record(
        ctx,
        "auth.login_failed",
        outcome="denied",
        error="bad password\r\nfor bob",
        params={"username": "bob\r\nroot", "\x1b[31mkey": "v\x00"},
    )
    (event,) = await _rows(runtime_engine)
    assert event.client_ip == "10.0.0.1\\x0d\\x0aevent=login outcome=ok"
    assert event.user_agent is not None
    assert event.user_agent.startswith("curl\\x00/8\\u2028fake\\u202eAAA")
    assert len(event.user_agent) == 512
    assert event.user_agent.endswith("...[truncated]")
    assert event.actor_name == "mallory\\x0aadmin"
    assert event.error == "bad password\\x0d\\x0afor bob"
    assert event.params == {"username": "bob\\x0d\\x0aroot", "\\x1b[31mkey": "v\\x00"}
    for value in (event.client_ip, event.user_agent, event.actor_name, event.error):
        assert "\n" not in value
        assert "\r" not in value
    assert (await verify_chain(runtime_engine)).ok


async def test_timestamps_keep_their_microseconds(runtime_engine: AsyncEngine) -> None:
    clock = FrozenClock(datetime(2026, 11, 26, 23, 59, 59, 999_999, tzinfo=UTC))
    trail = AuditTrail(runtime_engine, clock=clock)
    await trail.record(audit_context(), "env.switch", outcome="ok", params={"from": "staging", "to": "prod"})
    clock.set(datetime(2026, 11, 27, 0, 0, 0, 1, tzinfo=UTC))
    await trail.record(audit_context(), "env.switch", outcome="ok", params={"from": "prod", "to": "staging"})
    first, second = await _rows(runtime_engine)
    assert first.occurred_at == datetime(2026, 11, 26, 23, 59, 59, 999_999, tzinfo=UTC)
    assert second.occurred_at == datetime(2026, 11, 27, 0, 0, 0, 1, tzinfo=UTC)
    assert first.recorded_at <= second.recorded_at
    assert first.recorded_at.tzinfo is not None
    assert (await verify_chain(runtime_engine)).ok


async def test_empty_chain_verifies_and_says_truncation_needs_a_checkpoint(runtime_engine: AsyncEngine) -> None:
    report = await verify_chain(runtime_engine)
    assert report.ok
    assert (report.count, report.head_seq, report.head_hash) == (0, 0, GENESIS_HASH)
    assert any("checkpoint" in note for note in report.notes)


async def test_single_events_have_no_environment_when_console_wide(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    await trail.record(
        audit_context(environment=None, actor_id=None, actor_name="bob"),
        "auth.login_failed",
        outcome="denied",
        http_status=401,
        error="invalid credentials",
    )
    (event,) = await _rows(runtime_engine)
    assert (event.environment, event.phase, event.outcome, event.http_status) == (None, "outcome", "denied", 401)


async def test_bad_action_or_outcome_or_environment_is_refused_before_writing(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    with pytest.raises(ValueError, match="action"):
        await trail.record(audit_context(), "Order Cancel", outcome="ok")
    with pytest.raises(ValueError, match="outcome"):
        await trail.record(audit_context(), "order.cancel", outcome="done")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="environment"):
        await trail.record(audit_context(environment="prod\nstaging"), "order.cancel", outcome="ok")
    assert await _rows(runtime_engine) == []


async def test_an_attempt_gets_one_outcome_only(trail: AuditTrail) -> None:
    attempt = await trail.attempt(audit_context(), "trading.halt")
    await trail.outcome(attempt, "unknown", params={"reconciled": True})
    with pytest.raises(OutcomeAlreadyRecorded):
        await trail.outcome(attempt, "ok")


async def test_action_helper_records_ok_with_what_the_body_says(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    ctx = audit_context(request_id="req-ok")
    async with trail.action(ctx, "order.cancel", target="ord-7") as act, httpx.AsyncClient() as client:
        response = await client.post(
            f"{fake_raptor.url}/v1/orders/ord-7/cancel", headers={"X-Request-ID": act.request_id or ""}
        )
        act.set(http_status=response.status_code, status=response.json()["status"])
    attempt, outcome = await _rows(runtime_engine)
    assert fake_raptor.mutations[0]["request_id"] == "req-ok" == attempt.request_id
    assert (outcome.outcome, outcome.http_status, outcome.params) == ("ok", 200, {"status": "cancelled"})
    assert outcome.attempt_id == attempt.event_id
    assert act.outcome_recorded


@pytest.mark.parametrize(
    ("error", "outcome", "status"),
    [
        (Forbidden("no prod permission"), "denied", 403),
        (httpx.ConnectError("connection refused"), "failed", None),
        (httpx.ReadTimeout("no answer"), "unknown", None),
        (RuntimeError("bug"), "failed", None),
    ],
)
async def test_action_helper_records_what_an_exception_means(
    trail: AuditTrail, runtime_engine: AsyncEngine, error: Exception, outcome: str, status: int | None
) -> None:
    with pytest.raises(type(error)):
        async with trail.action(audit_context(), "order.cancel", target="ord-9"):
            raise error
    _, recorded = await _rows(runtime_engine)
    assert (recorded.phase, recorded.outcome, recorded.http_status) == ("outcome", outcome, status)
    assert recorded.error


async def test_late_outcome_after_reconciler_is_kept_as_its_own_event(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    async with trail.action(audit_context(), "trading.halt") as act:
        # The reconciler got there first (the call took longer than its threshold).
        await trail.outcome(act.attempt, "unknown", params={"reconciled": True})
    rows = await _rows(runtime_engine)
    assert [(r.phase, r.outcome) for r in rows] == [("attempt", None), ("outcome", "unknown"), ("outcome", "ok")]
    assert rows[2].attempt_id is None
    assert rows[2].params == {"late_outcome_of": str(act.attempt.event_id)}
    assert act.outcome_recorded


async def test_append_refuses_to_run_unserialized_under_repeatable_read(console_db: ProvisionedDatabase) -> None:
    with psycopg.connect(console_db.runtime_url) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.InvalidTransactionState):
            conn.execute("SELECT * FROM audit_append('{}')")


async def test_concurrent_appends_in_one_process_share_commits_and_fail_alone(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    import asyncio

    closed = await trail.attempt(audit_context(), "trading.halt")
    await trail.outcome(closed, "ok")
    results = await asyncio.gather(
        *(trail.record(audit_context(request_id=f"r{n}"), "env.switch", outcome="ok") for n in range(12)),
        trail.outcome(closed, "failed"),  # refused: it already has an outcome
        *(trail.record(audit_context(request_id=f"s{n}"), "env.switch", outcome="ok") for n in range(12)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], OutcomeAlreadyRecorded)
    rows = await _rows(runtime_engine)
    assert [r.seq for r in rows] == list(range(1, 27))
    assert sorted(r.request_id or "" for r in rows[2:]) == sorted(
        [f"r{n}" for n in range(12)] + [f"s{n}" for n in range(12)]
    )
    assert (await verify_chain(runtime_engine)).ok
