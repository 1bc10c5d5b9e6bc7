"""A process killed between the Raptor call and the outcome write: the reconciler closes the attempt."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common import pglock
from raxx.common.clock import FrozenClock, SystemClock
from raxx.common.environments import EnvironmentRegistry
from raxx.common.provision import ProvisionedDatabase
from raxx.common.secrets import EnvironSecrets
from raxx.console.audit import repository
from raxx.console.audit.lookup import HttpRequestLookup
from raxx.console.audit.reconciler import RECONCILE_LOCK, ReconcileReport, reconcile
from raxx.console.audit.service import AuditTrail
from raxx.console.audit.verify import verify_chain
from tests.console.audit.helpers import FakeRaptor, audit_context, worker_process


def _kill_mid_action(db: ProvisionedDatabase, raptor: FakeRaptor, request_id: str) -> None:
    worker = worker_process("die-mid-action", db.runtime_url, raptor.url, request_id)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == -9, err.decode()  # SIGKILL: no cleanup code ran


async def _events(engine: AsyncEngine) -> list[repository.EventRecord]:
    async with engine.connect() as conn:
        return [e async for e in repository.stream_events(conn, repository.EventFilter())]


def _lookup(raptor: FakeRaptor, client: httpx.AsyncClient, *, environment: str = "staging") -> HttpRequestLookup:
    registry = EnvironmentRegistry.from_mapping({"environments": {environment: {"raptor_url": raptor.url}}})
    return HttpRequestLookup(registry, EnvironSecrets({f"RAPTOR_TOKEN_{environment.upper()}": "tok"}), client)


async def _reconcile_every_open_attempt(engine: AsyncEngine, lookup: HttpRequestLookup) -> ReconcileReport:
    return await reconcile(
        engine, lookup, older_than=timedelta(0), clock=FrozenClock(SystemClock().now() + timedelta(seconds=1))
    )


async def test_killed_process_leaves_an_attempt_that_becomes_unknown(
    console_db: ProvisionedDatabase, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    _kill_mid_action(console_db, fake_raptor, "req-killed")
    assert fake_raptor.calls == 1
    (attempt,) = await _events(runtime_engine)
    assert (attempt.phase, attempt.request_id) == ("attempt", "req-killed")

    report = await reconcile(
        runtime_engine,
        None,
        older_than=timedelta(minutes=10),
        clock=FrozenClock(SystemClock().now() + timedelta(minutes=11)),
    )

    assert report.closed == {"ok": 0, "failed": 0, "unknown": 1}
    _, outcome = await _events(runtime_engine)
    assert (outcome.phase, outcome.outcome, outcome.attempt_id) == ("outcome", "unknown", attempt.event_id)
    assert outcome.params["reconciled"] is True
    assert outcome.params["raptor_found"] is None
    assert (outcome.actor_name, outcome.environment, outcome.session_hash) == (
        attempt.actor_name,
        attempt.environment,
        attempt.session_hash,
    )
    assert (await verify_chain(runtime_engine)).ok


async def test_recent_attempts_are_left_alone(
    console_db: ProvisionedDatabase, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    _kill_mid_action(console_db, fake_raptor, "req-recent")
    report = await reconcile(runtime_engine, None, older_than=timedelta(minutes=10), clock=SystemClock())
    assert report.examined == 0
    assert len(await _events(runtime_engine)) == 1


async def test_raptor_that_did_it_resolves_the_attempt_ok(
    console_db: ProvisionedDatabase, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    _kill_mid_action(console_db, fake_raptor, "req-done")
    async with httpx.AsyncClient() as client:
        report = await reconcile(
            runtime_engine,
            _lookup(fake_raptor, client),
            older_than=timedelta(minutes=10),
            clock=FrozenClock(SystemClock().now() + timedelta(minutes=11)),
        )
    assert report.closed["ok"] == 1
    _, outcome = await _events(runtime_engine)
    assert outcome.outcome == "ok"
    assert outcome.params["raptor_found"] is True
    assert outcome.params["raptor_target"] == "ord-42"
    assert fake_raptor.lookups == 1


async def _timed_out(trail: AuditTrail, raptor: FakeRaptor, request_id: str, *, sent: bool) -> None:
    """A request that wrote ``unknown`` itself: Raptor did not answer in time (it may have acted)."""

    async def cancel_without_an_answer() -> None:
        async with trail.action(audit_context(request_id=request_id), "order.cancel", target="ord-8"):
            if sent:
                async with httpx.AsyncClient() as client:
                    await client.post(f"{raptor.url}/v1/orders/ord-8/cancel", headers={"X-Request-ID": request_id})
            raise httpx.ReadTimeout("no answer in time")

    with pytest.raises(httpx.ReadTimeout):
        await cancel_without_an_answer()


async def test_an_unknown_outcome_of_a_timeout_is_settled_by_what_raptor_says_once(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    """The request timed out after sending and recorded ``unknown``; Raptor did cancel. The
    reconciler used to look only at attempts without an outcome, so the trail said "unknown"
    for good. Now Raptor's answer is appended, naming the outcome it settles, once."""
    await _timed_out(trail, fake_raptor, "req-slow", sent=True)
    await _timed_out(trail, fake_raptor, "req-never", sent=False)
    async with httpx.AsyncClient() as client:
        first = await _reconcile_every_open_attempt(runtime_engine, _lookup(fake_raptor, client))
        again = await _reconcile_every_open_attempt(runtime_engine, _lookup(fake_raptor, client))
    assert (first.examined, first.reexamined, first.resolved) == (0, 2, {"ok": 1, "failed": 1, "unknown": 0})
    assert "2 unknown outcome(s) asked about again: now ok: 1, failed: 1, unknown: 0" in first.summary()
    assert (again.reexamined, fake_raptor.lookups) == (0, 2)
    events = await _events(runtime_engine)
    unknown = {e.request_id: e for e in events if e.outcome == "unknown"}
    settled = {e.request_id: e for e in events if "resolves" in e.params}
    assert settled["req-slow"].params["resolves"] == str(unknown["req-slow"].event_id)
    assert (settled["req-slow"].outcome, settled["req-slow"].attempt_id) == ("ok", None)
    assert (settled["req-slow"].environment, settled["req-slow"].actor_name) == ("staging", "alice")
    assert settled["req-never"].outcome == "failed"
    assert (await verify_chain(runtime_engine)).ok


async def test_raptor_that_never_saw_it_resolves_the_attempt_failed(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    await trail.attempt(audit_context(request_id="req-lost"), "order.cancel", target="ord-5")
    async with httpx.AsyncClient() as client:
        report = await reconcile(
            runtime_engine,
            _lookup(fake_raptor, client),
            older_than=timedelta(minutes=10),
            clock=FrozenClock(SystemClock().now() + timedelta(minutes=11)),
        )
    assert report.closed["failed"] == 1
    _, outcome = await _events(runtime_engine)
    assert (outcome.outcome, outcome.params["raptor_found"]) == ("failed", False)


async def test_a_request_id_raptor_recorded_for_another_action_is_not_this_ones_outcome(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    # A caller reused one X-Request-ID: Raptor's request log keeps the first action of an id
    # (here a cancel), so its "found" says nothing of the halt that also carried it.
    async with httpx.AsyncClient() as client:
        await client.post(f"{fake_raptor.url}/v1/orders/ord-5/cancel", headers={"X-Request-ID": "req-reused"})
        await trail.attempt(audit_context(request_id="req-reused"), "trading.halt")
        report = await _reconcile_every_open_attempt(runtime_engine, _lookup(fake_raptor, client))
    assert report.closed == {"ok": 0, "failed": 0, "unknown": 1}
    outcome = (await _events(runtime_engine))[-1]
    assert (outcome.outcome, outcome.params["raptor_found"], outcome.params["raptor_action"]) == (
        "unknown",
        True,
        "order.cancel",
    )
    assert "another action (order.cancel), not trading.halt" in outcome.params["reason"]


async def test_the_consoles_own_actions_are_not_judged_by_raptor(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    # A role change Raptor never hears of: "Raptor has no record" is not "it did not happen".
    await trail.attempt(audit_context(request_id="req-role"), "user.role.change", target="bob")
    async with httpx.AsyncClient() as client:
        report = await _reconcile_every_open_attempt(runtime_engine, _lookup(fake_raptor, client))
    assert report.closed == {"ok": 0, "failed": 0, "unknown": 1}
    assert fake_raptor.lookups == 0
    _, outcome = await _events(runtime_engine)
    assert outcome.params["reason"] == "user.role.change is the console's own action: Raptor never hears of it"


async def test_a_backend_claiming_another_environment_is_not_asked(
    trail: AuditTrail, runtime_engine: AsyncEngine
) -> None:
    impostor = FakeRaptor(environment="prod").start()
    try:
        await trail.attempt(audit_context(request_id="req-x"), "order.cancel")
        async with httpx.AsyncClient() as client:
            report = await reconcile(
                runtime_engine,
                _lookup(impostor, client),
                older_than=timedelta(0),
                clock=FrozenClock(SystemClock().now() + timedelta(seconds=1)),
            )
    finally:
        impostor.stop()
    assert report.closed["unknown"] == 1
    assert impostor.lookups == 0


async def test_unreachable_raptor_means_unknown(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    await trail.attempt(audit_context(request_id="req-y"), "order.cancel")
    gone = FakeRaptor().start()
    gone.stop()
    async with httpx.AsyncClient(timeout=2) as client:
        report = await _reconcile_every_open_attempt(runtime_engine, _lookup(gone, client))
    assert report.closed["unknown"] == 1
    _, outcome = await _events(runtime_engine)
    assert outcome.params["reason"] == "Raptor could not be asked"


async def test_two_reconcilers_close_each_attempt_once(trail: AuditTrail, runtime_engine: AsyncEngine) -> None:
    for n in range(5):
        await trail.attempt(audit_context(request_id=f"req-{n}"), "trading.halt")
    clock = FrozenClock(SystemClock().now() + timedelta(minutes=11))
    reports = await asyncio.gather(
        *(reconcile(runtime_engine, None, older_than=timedelta(minutes=10), clock=clock) for _ in range(2))
    )
    assert sum(r.closed["unknown"] for r in reports) == 5
    for report in reports:
        assert report.closed["unknown"] + report.already_closed == report.examined
    events = await _events(runtime_engine)
    assert len(events) == 10
    assert sorted(str(e.attempt_id) for e in events if e.phase == "outcome") == sorted(
        str(e.event_id) for e in events if e.phase == "attempt"
    )


async def test_two_console_processes_settle_an_unknown_once(
    trail: AuditTrail, runtime_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    """Every console process reconciles on a timer. Two passes that met used to each ask Raptor
    and each append a resolution of the same ``unknown``: one pass runs now, the other skips."""
    await _timed_out(trail, fake_raptor, "req-slow", sent=True)
    async with httpx.AsyncClient() as client:
        reports = await asyncio.gather(
            *(_reconcile_every_open_attempt(runtime_engine, _lookup(fake_raptor, client)) for _ in range(3))
        )
    assert sorted(r.skipped for r in reports) == [False, True, True]
    assert "another console process is reconciling" in next(r for r in reports if r.skipped).summary()
    assert fake_raptor.lookups == 1
    assert [e.outcome for e in await _events(runtime_engine) if "resolves" in e.params] == ["ok"]


async def test_a_reconcile_that_may_wait_runs_once_the_other_pass_ends(runtime_engine: AsyncEngine) -> None:
    """``raxx audit reconcile`` waits for a console's timed pass rather than doing nothing."""
    clock = FrozenClock(SystemClock().now())
    async with pglock.held(runtime_engine, RECONCILE_LOCK) as mine:
        assert mine
        busy = await reconcile(runtime_engine, None, older_than=timedelta(0), clock=clock)
        waiting = asyncio.create_task(reconcile(runtime_engine, None, older_than=timedelta(0), clock=clock, wait_s=30))
        await asyncio.sleep(0.6)
        assert not waiting.done()
    assert busy.skipped
    assert not (await asyncio.wait_for(waiting, 30)).skipped
