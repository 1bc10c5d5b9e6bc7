"""Approvals bind to (app, environment, release, commit, artifact); nobody approves their own deploy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from raxx.common.clock import FrozenClock
from raxx.common.errors import BadRequest, NotFound
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.checks.gate import GateRequest
from raxx.gate.flows import check_flow
from raxx.gate.records import SelfApproval, approve
from raxx.gate.verdict import Status
from tests.fixtures.gate import T0, add_release, add_samples, gate_context


async def _approvals(ctx, actor: str = "carol"):  # type: ignore[no-untyped-def]
    request = GateRequest(app="raptor", environment="prod", release_id="r1", trigger="dispatch", actor=actor)
    report = await check_flow(ctx, request)
    return next(r for r in report.results if r.name == "approvals")


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
