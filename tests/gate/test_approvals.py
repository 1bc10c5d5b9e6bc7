"""Approvals bind to (app, environment, release, commit, artifact, staging stint); nobody approves their own deploy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from raxx.common.clock import FrozenClock
from raxx.common.errors import BadRequest, NotFound
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.checks.gate import GateRequest
from raxx.gate.flows import check_flow
from raxx.gate.records import SelfApproval, approval_notice, approve
from raxx.gate.verdict import Status
from tests.fixtures.gate import T0, add_release, add_samples, gate_context


async def _approvals(ctx, actor: str = "carol", condition: str = "approvals"):  # type: ignore[no-untyped-def]
    request = GateRequest(app="raptor", environment="prod", release_id="r1", trigger="dispatch", actor=actor)
    report = await check_flow(ctx, request)
    return next(r for r in report.results if r.name == condition)


async def test_the_person_who_deployed_the_release_cannot_approve_it(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        with pytest.raises(SelfApproval, match="alice deployed r1"):
            await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="alice", comment=None)


async def test_an_approval_by_the_person_promoting_does_not_count(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        by_bob = await _approvals(ctx, actor="bob")
        by_carol = await _approvals(ctx, actor="carol")
    assert by_bob.status is Status.FAIL
    assert "bob triggers this deploy and cannot approve it" in by_bob.reason
    assert by_carol.status is Status.PASS
    assert by_carol.evidence["approved_by"] == ["bob"]


async def test_an_approval_is_void_when_the_artifact_changes(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice", digest="sha256:aaa")
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        assert (await _approvals(ctx)).status is Status.PASS
        # the same release id is redeployed with another artifact: what bob approved is gone
        clock.advance(timedelta(hours=1))
        await add_release(ctx, "raptor", "staging", "r1", at=clock.now(), by="alice", digest="sha256:bbb")
        result = await _approvals(ctx)
    assert result.status is Status.FAIL
    assert "which changed" in result.reason


async def test_an_approval_is_void_when_the_commit_changes(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice", commit="aaaa1111")
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        clock.advance(timedelta(hours=1))
        await add_release(ctx, "raptor", "staging", "r1", at=clock.now(), by="alice", commit="bbbb2222")
        assert (await _approvals(ctx)).status is Status.FAIL


async def test_an_approval_records_what_the_approver_saw(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice", commit="abc123", digest="sha256:d1")
        await add_samples(ctx, "raptor-staging", T0, T0 + timedelta(hours=1), release="r1")
        row = await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment="ok")
    assert (row.commit, row.artifact_digest) == ("abc123", "sha256:d1")
    names = [c["name"] for c in row.gate_state["conditions"]]
    assert "soak" in names


async def test_nothing_to_approve_before_the_release_reaches_staging(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(NotFound):
            await approve(ctx, app="raptor", environment="prod", release_id="r9", approver="bob", comment=None)
        with pytest.raises(BadRequest):
            await approve(ctx, app="raptor", environment="staging", release_id="r9", approver="bob", comment=None)


# --- approvals bind to the staging stint (issue 18, item 4) ------------------------------------


async def _soak(ctx, clock: FrozenClock, hours: float, release: str = "r1", **kw):  # type: ignore[no-untyped-def]
    """``release`` deployed to staging now, then ``hours`` of healthy samples."""
    record = await add_release(ctx, "raptor", "staging", release, at=clock.now(), by="alice", **kw)
    start = clock.now()
    clock.advance(timedelta(hours=hours))
    await add_samples(ctx, "raptor-staging", start, clock.now(), release=release)
    return record


async def test_an_approval_is_void_once_staging_moves_on_before_the_soak_completed(
    ledger_db: ProvisionedDatabase,
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soak(ctx, clock, 2)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        assert (await _approvals(ctx)).status is Status.PASS
        await _soak(ctx, clock, 1, release="r2")  # staging gets r2: r1's stint ended after 2 h of 24
        result = await _approvals(ctx)
    assert result.status is Status.FAIL
    assert result.reason.startswith("0/1 approvals")
    assert "raptor-staging moved on to r2" in result.reason
    assert result.evidence["approved_by"] == []


async def test_redeploying_the_same_commit_and_artifact_needs_a_new_approval(ledger_db: ProvisionedDatabase) -> None:
    """Bob's approval, given 57 s into an interrupted stint, does not come back with a redeploy."""
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=clock.now(), by="alice")
        clock.advance(timedelta(seconds=57))
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        await _soak(ctx, clock, 1, release="r2")
        await _soak(ctx, clock, 25)  # r1 again: same commit and artifact, a new stint, fully soaked
        stale = await _approvals(ctx)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment="again")
        fresh = await _approvals(ctx)
    assert stale.status is Status.FAIL
    assert "bob approved an earlier stint of r1" in stale.reason
    assert fresh.status is Status.PASS
    assert fresh.evidence["approved_by"] == ["bob"]


async def test_an_approval_of_a_completed_soak_survives_staging_moving_on(ledger_db: ProvisionedDatabase) -> None:
    """The soak rule keeps a release that soaked promotable after it is replaced; its approvals too."""
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soak(ctx, clock, 2)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment="early")
        clock.advance(timedelta(seconds=1))
        await add_samples(ctx, "raptor-staging", clock.now(), clock.now() + timedelta(hours=23), release="r1")
        clock.advance(timedelta(hours=23))
        await _soak(ctx, clock, 1, release="r2")
        result = await _approvals(ctx)
        soak = await _approvals(ctx, condition="soak")
    assert result.status is Status.PASS, result.reason
    assert soak.status is Status.PASS


async def test_approving_during_the_soak_says_how_much_soak_remains(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soak(ctx, clock, 6)
        row = await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
    notice = approval_notice(row)
    assert "18h of 1d remain on raptor-staging" in notice
    assert "void if raptor-staging moves on before then" in notice
    assert row.gate_state["soak"]["remaining_seconds"] == 18 * 3600 + 30  # proven up to the last sample


async def test_a_stint_that_ended_unsoaked_cannot_be_approved(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soak(ctx, clock, 2)
        await _soak(ctx, clock, 1, release="r2")
        with pytest.raises(BadRequest, match="moved on to r2 before r1 completed its soak"):
            await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)


async def test_an_approval_recorded_before_stints_were_bound_counts_for_nothing(
    ledger_db: ProvisionedDatabase,
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soak(ctx, clock, 25)
        row = await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        async with ctx.sessions() as session:  # as the ledger migration leaves an older approval
            await session.execute(text("UPDATE approval SET stint_id = NULL WHERE id = :id"), {"id": row.id})
            await session.commit()
        result = await _approvals(ctx)
    assert result.status is Status.FAIL
    assert "bob approved before approvals named their stint" in result.reason
