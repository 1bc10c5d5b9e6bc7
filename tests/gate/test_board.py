"""The releases board the console renders: built from the ledger, stored as one snapshot."""

from __future__ import annotations

from datetime import timedelta

from raxx.common.clock import FrozenClock
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.board import build_board, publish_board, read_board
from raxx.gate.records import approve, freeze, open_incident
from raxx.gate.render import board_lines, sparkline
from tests.fixtures.gate import T0, add_release, add_samples, gate_context

H = timedelta(hours=1)


async def test_board_shows_soak_progress_blockers_approvals_health_incidents_and_freezes(
    ledger_db: ProvisionedDatabase,
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0 - 48 * H)
        await add_release(ctx, "raptor", "staging", "r2", at=T0, by="alice")
        await add_samples(ctx, "raptor-staging", T0, T0 + 6 * H, release="r2")
        await add_samples(ctx, "raptor-staging", T0 + 6 * H, T0 + 12 * H, release="r2", ok=False, reason="503")
        clock.set(T0 + 12 * H)
        await approve(ctx, app="raptor", environment="prod", release_id="r2", approver="bob", comment=None)
        await open_incident(ctx, app="raptor", component="orders", severity="major", title="slow fills", actor="oncall")
        await freeze(ctx, environment="prod", until=clock.now() + 24 * H, reason="audit week", actor="cfo")
        async with ctx.sessions() as session:
            board = await build_board(session, ctx.policy, now=clock.now())
            await publish_board(session, board)
            await session.commit()
        async with ctx.sessions() as session:
            stored = await read_board(session)
    staging = next(d for d in board.deployments if d.service == "raptor-staging")
    prod = next(d for d in board.deployments if d.service == "raptor-prod")
    assert staging.current is not None
    assert staging.previous is not None
    assert (staging.current.release, staging.previous.release) == ("r2", "r1")
    assert staging.soak is not None
    assert staging.soak.target_environment == "prod"
    assert 0.45 < staging.soak.fraction < 0.5
    assert staging.soak.verdict == "blocked"
    assert any(b.startswith("soak:") for b in staging.soak.blockers)
    assert any(b.startswith("success_rate:") for b in staging.soak.blockers)
    assert any("audit week" in b for b in staging.soak.blockers)
    assert [a.approved_by for a in staging.approvals] == ["bob"]
    assert staging.approvals[0].valid
    assert len(staging.health) == 12
    assert staging.health[0].ok == staging.health[0].samples == 120
    assert staging.health[-1].ok == 0
    assert [i.title for i in staging.incidents] == ["slow fills"]
    assert [f.reason for f in prod.freezes] == ["audit week"]
    assert prod.soak is None
    assert stored == board
    text = "\n".join(board_lines(staging))
    assert "soak toward prod: [#########" in text
    assert "blocks: soak:" in text


def test_sparkline_marks_missing_buckets() -> None:
    from datetime import UTC, datetime

    from raxx.common.contracts.board import BoardHealthPoint

    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        BoardHealthPoint(start=start, samples=10, ok=10),
        BoardHealthPoint(start=start, samples=0, ok=0),
        BoardHealthPoint(start=start, samples=10, ok=0),
    ]
    assert sparkline(points) == "█· "


async def test_board_marks_an_approval_of_an_earlier_stint_void_with_the_reason(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r2", at=T0, by="alice")
        await approve(ctx, app="raptor", environment="prod", release_id="r2", approver="bob", comment=None)
        clock.set(T0 + H)
        await add_release(ctx, "raptor", "staging", "r2", at=clock.now(), by="alice")  # same build, new stint
        async with ctx.sessions() as session:
            board = await build_board(session, ctx.policy, now=clock.now())
    staging = next(d for d in board.deployments if d.service == "raptor-staging")
    assert [(a.approved_by, a.valid) for a in staging.approvals] == [("bob", False)]
    assert staging.approvals[0].void_reason is not None
    assert "earlier stint of r2" in staging.approvals[0].void_reason
    assert staging.soak is not None
    assert "approvals: 0/1" in staging.soak.blockers
