"""The reader's side of each cross-deployable view: its queries run against a migrated owner
database, as a role that holds the view alone, and parse into the declared model."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg

from raxx.common.clock import FrozenClock
from raxx.common.contracts.audit import AUDIT_EVIDENCE_VIEW
from raxx.common.contracts.board import RELEASE_BOARD_VIEW, ReleaseBoard
from raxx.common.contracts.health import DEPLOY_HISTORY_VIEW, DEPLOYMENT_HEALTH_VIEW, INCIDENT_HISTORY_VIEW
from raxx.common.contracts.release_requests import RELEASE_REQUEST_VIEW
from raxx.common.db import create_engine
from raxx.common.provision import ProvisionedDatabase
from raxx.console import health_history, release_requests
from raxx.console.audit.service import AuditContext, AuditTrail
from raxx.console.pages.releases import BOARD_QUERY
from raxx.gate.audit_evidence import SqlAuditEvidence
from raxx.gate.board import publish_board
from raxx.gate.records import open_incident
from tests.console.test_releases import board
from tests.contracts.helpers import view_only_role
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.gate import T0, add_release, add_samples, gate_context


async def test_the_console_reads_the_board_the_gate_published(
    test_databases: DatabaseFactory, ledger_db: ProvisionedDatabase
) -> None:
    written = board()
    async with gate_context(ledger_db) as ctx, ctx.sessions.begin() as session:
        await publish_board(session, written)
    with view_only_role(test_databases, ledger_db, RELEASE_BOARD_VIEW) as url:
        engine = create_engine(url, application_name="test-board-reader", pool_size=1)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(BOARD_QUERY)).one()
        finally:
            await engine.dispose()
    assert ReleaseBoard.model_validate(row.body) == written
    assert row.generated_at == written.generated_at


async def test_the_console_asks_for_a_release_and_reads_its_outcome(
    test_databases: DatabaseFactory, ledger_db: ProvisionedDatabase
) -> None:
    request_id = uuid.uuid4()
    params = {
        "id": request_id,
        "action": "approve",
        "app": "raptor",
        "environment": "prod",
        "release_id": "r2",
        "actor": "alice",
        "note": "looks good",
        "via_request_id": "req-1",
    }
    with view_only_role(test_databases, ledger_db, RELEASE_REQUEST_VIEW) as url:
        engine = create_engine(url, application_name="test-request-writer", pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(release_requests._INSERT, params)
            with psycopg.connect(ledger_db.owner_url, autocommit=True) as owner:  # the gate's runner answers
                owner.execute(
                    "UPDATE release_request SET status = 'refused', code = 'soak', detail = 'too early' WHERE id = %s",
                    (request_id,),
                )
            async with engine.connect() as conn:
                one = (await conn.execute(release_requests._ONE, {"id": request_id})).one()
                recent = (await conn.execute(release_requests._RECENT, {"limit": 5})).all()
        finally:
            await engine.dispose()
    assert (one.status, one.code, one.detail, one.exit_code) == ("refused", "soak", "too early", None)
    assert [(r.id, r.action, r.release_id, r.actor, r.status) for r in recent] == [
        (request_id, "approve", "r2", "alice", "refused")
    ]
    with psycopg.connect(ledger_db.owner_url) as owner:
        assert owner.execute("SELECT via FROM release_request WHERE id = %s", (request_id,)).fetchone() == ("console",)


async def test_the_gate_counts_switches_from_the_console_audit_trail(
    test_databases: DatabaseFactory, console_db: ProvisionedDatabase
) -> None:
    writer = create_engine(console_db.runtime_url, application_name="test-audit-writer", pool_size=1)
    clock = FrozenClock(T0)
    trail = AuditTrail(writer, clock=clock)
    try:
        for hours, environment, action in ((3, "staging", "env.switch"), (2, "prod", "env.switch"), (1, "prod", "x.y")):
            clock.set(T0 - timedelta(hours=hours))
            async with trail.action(AuditContext(actor_name="olga", environment=environment), action):
                pass
    finally:
        await writer.dispose()
    with view_only_role(test_databases, console_db, AUDIT_EVIDENCE_VIEW) as url:
        engine = create_engine(url, application_name="test-audit-reader", pool_size=1)
        try:
            evidence = await SqlAuditEvidence(engine).switch_events(T0 - timedelta(days=1), T0)
        finally:
            await engine.dispose()
    assert evidence.count == 2
    assert (evidence.first_at, evidence.last_at) == (T0 - timedelta(hours=3), T0 - timedelta(hours=2))
    assert evidence.environments == {"staging": 1, "prod": 1}
    assert evidence.outcomes == {"ok": 2}


async def test_the_console_draws_a_health_history_from_what_the_gate_recorded(
    test_databases: DatabaseFactory, ledger_db: ProvisionedDatabase
) -> None:
    async with gate_context(ledger_db) as ctx:
        await add_release(ctx, "raptor", "staging", "r7", at=T0 - timedelta(minutes=50))
        await add_samples(ctx, "raptor-staging", T0 - timedelta(hours=1), T0, release="r7", every=timedelta(minutes=1))
        await open_incident(ctx, app="raptor", component="orders", severity="critical", title="stuck", actor="olga")
    views = (DEPLOYMENT_HEALTH_VIEW, DEPLOY_HISTORY_VIEW, INCIDENT_HISTORY_VIEW)
    params = {"service": "raptor-staging", "app": "raptor", "env": "staging", "start": T0 - timedelta(hours=1)}
    with view_only_role(test_databases, ledger_db, *views) as url:
        engine = create_engine(url, application_name="test-history-reader", pool_size=1)
        try:
            async with engine.connect() as conn:
                buckets = (
                    await conn.execute(health_history._BUCKETS, {**params, "end": T0, "n": 4, "step": 900})
                ).all()
                deploys = (await conn.execute(health_history._DEPLOYS, {**params, "end": T0})).all()
                incidents = (
                    await conn.execute(health_history._INCIDENTS, {**params, "end": T0 + timedelta(days=1)})
                ).all()
        finally:
            await engine.dispose()
    assert [(b.i, b.samples, b.ok) for b in buckets] == [(i, 15, 15) for i in range(4)]
    assert [(d.label, d.status) for d in deploys] == [("r7", "succeeded")]
    assert [(i.label, i.status) for i in incidents] == [("critical: stuck", "critical")]
