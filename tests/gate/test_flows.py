"""Deploy, soak, approve, promote, smoke, automatic rollback, freeze, rollback: end to end on
the local platform (real HTTP servers, the file protocol with a fake supervisor)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from raxx.common.clock import FrozenClock
from raxx.common.errors import BadRequest, NotFound
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.board import build_board
from raxx.gate.checks.gate import GateRequest
from raxx.gate.context import GateContext
from raxx.gate.flows import check_flow, deploy_flow, promote_flow, rollback_flow
from raxx.gate.ledger.models import Release
from raxx.gate.locks import DeployLocked, deploy_lock
from raxx.gate.records import approve, freeze
from raxx.gate.verdict import ExitCode
from tests.fixtures.gate import T0, LocalTopology, add_release, add_samples, gate_context

H = timedelta(hours=1)


def _request(release: str, env: str = "prod", **kw: object) -> GateRequest:
    values: dict[str, object] = {
        "app": "raptor",
        "environment": env,
        "release_id": release,
        "trigger": "dispatch" if env == "prod" else "push",
        "actor": "carol",
    }
    values.update(kw)
    return GateRequest(**values)  # type: ignore[arg-type]


async def _ledger(ctx: GateContext, env: str) -> list[Release]:
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(Release).where(Release.app == "raptor", Release.environment == env).order_by(Release.seq)
        )
        return list(rows)


async def _push_and_soak(ctx: GateContext, clock: FrozenClock, release: str, hours: float = 25) -> None:
    """CI's push deploy to staging, then ``hours`` of green monitor samples."""
    result = await deploy_flow(
        ctx,
        _request(release, "staging", actor="alice", commit=f"{release}-commit", artifact_digest=f"sha256:{release}"),
    )
    assert result.exit_code is ExitCode.PASS, result.summary
    start = clock.now()
    clock.advance(timedelta(hours=hours))
    await add_samples(ctx, "raptor-staging", start, clock.now(), release=release)


async def test_push_deploys_to_staging_and_records_what_ran(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.migrating_releases.add("r1")
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        result = await deploy_flow(ctx, _request("r1", "staging", actor="alice", commit="c1", artifact_digest="d1"))
        rows = await _ledger(ctx, "staging")
    assert result.exit_code is ExitCode.PASS, result.summary
    assert fake_topology.services["raptor-staging"].release == "r1"
    assert [r.name for r in result.smoke] == ["identity", "readyz", "console_proxy[staging]"]
    [row] = rows
    assert (row.release_id, row.commit, row.artifact_digest, row.trigger, row.status, row.ran_migrations) == (
        "r1",
        "c1",
        "d1",
        "push",
        "succeeded",
        True,
    )
    assert row.deployed_by == "alice"


async def test_soak_approve_promote_ships_the_exact_soaked_release(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await _push_and_soak(ctx, clock, "r1")
        await _push_and_soak(ctx, clock, "r2", hours=1)  # newer, not soaked: must not be what ships
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        result = await promote_flow(ctx, _request("r1"))
        [row] = await _ledger(ctx, "prod")
    assert result.exit_code is ExitCode.PASS, result.summary
    assert fake_topology.services["raptor-prod"].release == "r1"
    assert fake_topology.services["raptor-staging"].release == "r2"
    assert (row.release_id, row.commit, row.artifact_digest, row.trigger) == (
        "r1",
        "r1-commit",
        "sha256:r1",
        "dispatch",
    )
    assert {r.name for r in result.smoke} == {"identity", "readyz", "console_proxy[prod]"}


async def test_a_blocked_promotion_deploys_nothing(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await _push_and_soak(ctx, clock, "r1", hours=3)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        result = await promote_flow(ctx, _request("r1"))
        rows = await _ledger(ctx, "prod")
    assert result.exit_code is ExitCode.BLOCKED
    assert rows == []
    assert ("raptor-prod", "r1") not in fake_topology.supervisor.applied
    assert fake_topology.services["raptor-prod"].release == "r0"


async def test_a_failed_smoke_check_rolls_back_automatically(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    fake_topology.services["raptor-prod"].broken_releases.add("r2")
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await add_release(ctx, "raptor", "prod", "r0", at=T0 - 48 * H, trigger="dispatch")
        await _push_and_soak(ctx, clock, "r2")
        await approve(ctx, app="raptor", environment="prod", release_id="r2", approver="bob", comment=None)
        result = await promote_flow(ctx, _request("r2"))
        rows = await _ledger(ctx, "prod")
    assert result.exit_code is ExitCode.ROLLED_BACK
    assert "readyz" in result.summary
    assert fake_topology.services["raptor-prod"].release == "r0"
    assert fake_topology.supervisor.applied[-2:] == [("raptor-prod", "r2"), ("raptor-prod", "r0")]
    bad, back = rows[-2], rows[-1]
    assert (bad.release_id, bad.status) == ("r2", "rolled_back")
    assert (back.release_id, back.trigger, back.status, back.rollback_of) == ("r0", "rollback", "succeeded", bad.id)


async def test_a_platform_failure_changes_nothing_and_says_why(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.fail_releases["r1"] = "migration 0007 failed: column exists"
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        result = await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
        [row] = await _ledger(ctx, "staging")
    assert result.exit_code is ExitCode.DEPLOY_FAILED
    assert "migration 0007 failed" in result.summary
    assert row.status == "failed"
    assert fake_topology.services["raptor-staging"].release == "r0"


async def test_freeze_blocks_a_promotion_and_break_glass_is_recorded_and_flagged(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await _push_and_soak(ctx, clock, "r1")
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        await freeze(ctx, environment="prod", until=clock.now() + 24 * H, reason="quarter close", actor="cfo")
        blocked = await promote_flow(ctx, _request("r1"))
        glass = await promote_flow(ctx, _request("r1", break_glass_reason="fills are lost without r1"))
        [row] = await _ledger(ctx, "prod")
    assert blocked.exit_code is ExitCode.BLOCKED
    assert glass.exit_code is ExitCode.PASS, glass.summary
    assert (row.trigger, row.break_glass_reason) == ("break_glass", "fills are lost without r1")
    assert row.detail == "requested as dispatch"


async def test_the_board_names_as_previous_the_release_a_rollback_goes_back_to(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    # A redeploy of the release that runs (r2 on r2) is not a previous release: the board said
    # "previous: r2" while a rollback went to r1.
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        for release in ("r1", "r2", "r2"):
            await deploy_flow(ctx, _request(release, "staging", commit="c" * 7, artifact_digest=release))
            clock.advance(H)
        async with ctx.sessions() as session:
            board = await build_board(session, ctx.policy, now=clock.now())
        shown = next(d for d in board.deployments if d.service == "raptor-staging").previous
        result = await rollback_flow(ctx, "raptor", "staging", to=None, actor="dave", reason=None)
    assert shown is not None
    assert result.exit_code is ExitCode.PASS, result.summary
    assert shown.release == fake_topology.services["raptor-staging"].release == "r1"


async def test_rollback_goes_to_the_previous_release_and_warns_about_migrations(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.migrating_releases.add("r2")
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
        clock.advance(H)
        await deploy_flow(ctx, _request("r2", "staging", commit="c2", artifact_digest="d2"))
        clock.advance(H)
        result = await rollback_flow(ctx, "raptor", "staging", to=None, actor="dave", reason="orders page broken")
        rows = await _ledger(ctx, "staging")
        with pytest.raises(BadRequest, match="already runs r1"):
            await rollback_flow(ctx, "raptor", "staging", to="r1", actor="dave", reason=None)
    assert result.exit_code is ExitCode.PASS, result.summary
    assert fake_topology.services["raptor-staging"].release == "r1"
    assert len(result.warnings) == 1
    assert "r2 ran database migrations" in result.warnings[0]
    assert "not the schema" in result.warnings[0]
    assert [(r.release_id, r.status, r.trigger) for r in rows] == [
        ("r1", "succeeded", "push"),
        ("r2", "rolled_back", "push"),
        ("r1", "succeeded", "rollback"),
    ]


async def test_one_deploy_per_app_and_environment_at_a_time(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    # Erin's deploy is another process, with its own connections (a gate command's budget).
    topology = fake_topology.topology_file
    async with gate_context(ledger_db, topology_file=topology) as ctx, gate_context(ledger_db) as erins:
        async with deploy_lock(erins, "raptor", "staging", holder="erin", purpose="deploy r7"):
            with pytest.raises(DeployLocked, match="erin"):
                await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
            report = await check_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
            lock = next(r for r in report.results if r.name == "lock")
            assert "erin (deploy r7)" in lock.reason
            assert report.exit_code is ExitCode.BLOCKED
        async with deploy_lock(erins, "raptor", "prod", holder="erin", purpose="promote r7"):
            other_env = await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
    assert other_env.exit_code is ExitCode.PASS, other_env.summary
    assert fake_topology.services["raptor-staging"].release == "r1"


async def test_the_first_recorded_deploy_rolls_back_to_what_the_platform_ran_before(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.services["raptor-staging"].broken_releases.add("r1")
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        result = await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
        rows = await _ledger(ctx, "staging")
    assert result.exit_code is ExitCode.ROLLED_BACK, result.summary
    assert fake_topology.services["raptor-staging"].release == "r0"
    assert [(r.release_id, r.status, r.previous_release) for r in rows] == [
        ("r1", "rolled_back", "r0"),
        ("r0", "succeeded", "r1"),
    ]
    assert rows[1].commit == "unknown (before the ledger)"


async def test_a_rollback_can_go_past_the_ledgers_first_record(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    """The first gate deploys replaced what ``raxx up`` started with (r0): back to it, with or without --to."""
    clock = FrozenClock(T0)
    console = {"app": "console", "environment": "prod", "trigger": "push", "commit": "c1", "artifact_digest": "d1"}
    async with gate_context(ledger_db, clock=clock, topology_file=fake_topology.topology_file) as ctx:
        assert (await deploy_flow(ctx, _request("c1", **console))).exit_code is ExitCode.PASS
        await deploy_flow(ctx, _request("r1", "staging", commit="c1", artifact_digest="d1"))
        clock.advance(H)
        await deploy_flow(ctx, _request("r2", "staging", commit="c2", artifact_digest="d2"))
        clock.advance(H)
        previous = await rollback_flow(ctx, "console", "prod", to=None, actor="dave", reason="c1 broke logins")
        named = await rollback_flow(ctx, "raptor", "staging", to="r0", actor="dave", reason=None)
        with pytest.raises(NotFound, match="r9 never ran on raptor-staging"):
            await rollback_flow(ctx, "raptor", "staging", to="r9", actor="dave", reason=None)
    for result in (previous, named):
        assert result.exit_code is ExitCode.PASS, result.summary
        assert result.rollback is not None
        assert (result.rollback.release_id, result.rollback.commit) == ("r0", "unknown (before the ledger)")
    assert fake_topology.services["console-prod"].release == "r0"
    assert fake_topology.services["raptor-staging"].release == "r0"


@pytest.mark.parametrize(("platform_runs", "settled_as"), [("r1", "succeeded"), ("r0", "failed")])
async def test_a_deploy_whose_process_was_killed_is_settled_by_the_next_one(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, platform_runs: str, settled_as: str
) -> None:
    # What a SIGKILLed `raxx gate deploy r1` leaves: its record `deploying` (its lock died with
    # its session). Whether the platform switched to r1 before the kill, only the platform knows.
    fake_topology.services["raptor-staging"].release = platform_runs
    async with gate_context(ledger_db, topology_file=fake_topology.topology_file) as ctx:
        await add_release(ctx, "raptor", "staging", "r0", at=T0 - 2 * H)
        await add_release(ctx, "raptor", "staging", "r1", at=T0 - H, status="deploying")
        result = await deploy_flow(ctx, _request("r2", "staging", commit="c2", artifact_digest="d2"))
        rows = await _ledger(ctx, "staging")
    assert result.exit_code is ExitCode.PASS, result.summary
    assert [(r.release_id, r.status) for r in rows] == [("r0", "succeeded"), ("r1", settled_as), ("r2", "succeeded")]
    assert rows[1].detail is not None
    assert rows[1].detail.startswith("interrupted: the process deploying it ended without a result")
    assert f"running {platform_runs}" in rows[1].detail
    assert rows[1].finished_at is not None
    assert rows[2].previous_release == platform_runs  # what r2 really replaced
