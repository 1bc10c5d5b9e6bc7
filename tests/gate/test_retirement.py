"""``retire-check console-staging``: every item proven from the ledger, the audit trail and live probes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from raxx.common.clock import FrozenClock
from raxx.common.db import create_engine
from raxx.common.errors import BadRequest
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.events import AuditContext
from raxx.console.audit.service import AuditTrail
from raxx.gate.audit_evidence import SqlAuditEvidence
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import RetirementDecision
from raxx.gate.records import attest, open_incident
from raxx.gate.retire_flow import RetirementVerdict, retire_check_flow
from raxx.gate.verdict import ExitCode, Status
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.gate import T0, LocalTopology, add_release, add_samples, gate_context

DAY = timedelta(days=1)
ATTESTATIONS = ("operators-briefed", "staging-app-no-traffic", "staging-secrets-revoked")


@pytest.fixture
def audit_db(test_databases: DatabaseFactory) -> ProvisionedDatabase:
    """A console database, its ``audit_event`` table built by the console's own migration."""
    return test_databases.fresh("console")


async def _audit(db: ProvisionedDatabase, *events: tuple[timedelta, str | None, str]) -> None:
    """Actions as the console records them: an attempt, then its outcome, at ``T0 - ago``."""
    engine = create_engine(db.runtime_url, application_name="test-audit-writer", pool_size=1)
    clock = FrozenClock(T0)
    trail = AuditTrail(engine, clock=clock)
    try:
        for ago, environment, action in events:
            clock.set(T0 - ago)
            async with trail.action(AuditContext(actor_name="olga", environment=environment), action):
                pass
    finally:
        await engine.dispose()


async def _healthy_week(ctx: GateContext, *, switcher_days: float) -> None:
    await add_release(ctx, "console", "prod", "c1", at=T0 - 30 * DAY, trigger="push")
    await add_release(
        ctx, "console", "prod", "c2", at=T0 - switcher_days * DAY, trigger="push", features=["env-switcher"]
    )
    await add_samples(ctx, "console-prod", T0 - 7 * DAY, T0, release="c2")


async def _check(ctx: GateContext, audit_db: ProvisionedDatabase) -> RetirementVerdict:
    engine = create_engine(audit_db.runtime_url, application_name="test-audit", pool_size=1)
    try:
        return await retire_check_flow(ctx, "console-staging", actor="rita", audit=SqlAuditEvidence(engine))
    finally:
        await engine.dispose()


def _items(verdict: RetirementVerdict) -> dict[str, tuple[Status, str]]:
    return {r.name: (r.status, r.reason) for r in verdict.results}


async def test_every_item_proven_lets_the_old_app_retire_and_records_the_decision(
    ledger_db: ProvisionedDatabase, audit_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    await _audit(
        audit_db, (2 * DAY, "staging", "env.switch"), (DAY, "prod", "env.switch"), (DAY, "prod", "order.cancel")
    )
    async with gate_context(ledger_db, clock=FrozenClock(T0), topology_file=fake_topology.topology_file) as ctx:
        await _healthy_week(ctx, switcher_days=8)
        for item in ATTESTATIONS:
            await attest(ctx, subject="console-staging", item=item, actor="rita", note="checked")
        verdict = await _check(ctx, audit_db)
        async with ctx.sessions() as session:
            decision = await session.scalar(select(RetirementDecision))
    items = _items(verdict)
    assert all(status is Status.PASS for status, _ in items.values()), items
    assert verdict.exit_code is ExitCode.PASS
    assert "2 env.switch events (prod: 1, staging: 1)" in items["audit_switch_events"][1]
    assert "since c2" in items["feature_in_prod"][1]
    assert items["smoke_staging"][0] is Status.PASS
    assert decision is not None
    assert decision.passed is True
    assert decision.decided_by == "rita"
    assert len(decision.items) == len(verdict.results)


async def test_each_unproven_item_blocks_with_its_evidence(
    ledger_db: ProvisionedDatabase, audit_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.services["console-prod"].proxy_status["staging"] = 502
    await _audit(audit_db, (9 * DAY, "staging", "env.switch"))  # outside the window
    async with gate_context(ledger_db, clock=FrozenClock(T0), topology_file=fake_topology.topology_file) as ctx:
        await _healthy_week(ctx, switcher_days=3)
        await add_samples(ctx, "console-prod", T0 - DAY, T0 - DAY + timedelta(hours=2), release="c2", ok=False)
        await open_incident(
            ctx,
            app="console",
            component="env-switcher",
            severity="critical",
            title="switch showed prod banner on staging",
            actor="oncall",
        )
        await attest(ctx, subject="console-staging", item="operators-briefed", actor="rita", note=None)
        verdict = await _check(ctx, audit_db)
    items = _items(verdict)
    assert verdict.exit_code is ExitCode.BLOCKED
    assert items["feature_in_prod"][0] is Status.FAIL
    assert "needs 7d (4d left)" in items["feature_in_prod"][1]
    assert "prod banner on staging" in items["no_critical_incident"][1]
    assert items["prod_health"][0] is Status.FAIL
    assert "0 env.switch events" in items["audit_switch_events"][1]
    assert "502" in items["smoke_staging"][1]
    assert items["attest:operators-briefed"][0] is Status.PASS
    assert items["attest:staging-secrets-revoked"][0] is Status.FAIL


async def test_without_an_audit_database_the_item_cannot_be_proven(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    async with gate_context(ledger_db, clock=FrozenClock(T0), topology_file=fake_topology.topology_file) as ctx:
        verdict = await retire_check_flow(ctx, "console-staging", actor="rita")
    assert _items(verdict)["audit_switch_events"][0] is Status.UNKNOWN
    assert verdict.exit_code is not ExitCode.PASS


async def test_only_the_policys_attestation_items_are_accepted(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(BadRequest, match="not an attestation of console-staging"):
            await attest(ctx, subject="console-staging", item="vibes", actor="rita", note=None)
