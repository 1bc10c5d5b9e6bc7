"""If the attempt cannot be written, the action does not happen: Raptor receives nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.db import create_engine
from raxx.common.errors import Unavailable
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.service import AuditTrail, AuditUnavailable
from tests.console.audit.helpers import FakeRaptor, audit_context


async def _cancel_through_audit(trail: AuditTrail, raptor: FakeRaptor) -> None:
    """What a console route does: one line of audit around the call to Raptor."""
    async with trail.action(audit_context(), "order.cancel", target="ord-1") as act, httpx.AsyncClient() as client:
        response = await client.post(
            f"{raptor.url}/v1/orders/ord-1/cancel", headers={"X-Request-ID": act.request_id or ""}
        )
        act.set(http_status=response.status_code)


@pytest.fixture
async def unreachable_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_engine("postgresql://app:pw@127.0.0.1:1/console", application_name="test-down", pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_unreachable_audit_database_refuses_the_action(
    unreachable_engine: AsyncEngine, fake_raptor: FakeRaptor
) -> None:
    with pytest.raises(AuditUnavailable) as refused:
        await _cancel_through_audit(AuditTrail(unreachable_engine), fake_raptor)
    assert fake_raptor.calls == 0
    assert isinstance(refused.value, Unavailable)
    assert refused.value.status_code == 503
    body = refused.value.body()
    assert body["error"] == "audit_unavailable"
    assert "could not record 'order.cancel'" in body["detail"]
    assert "not performed" in body["detail"]
    assert "pw" not in body["detail"]


async def test_insert_refused_by_the_database_refuses_the_action(
    trail: AuditTrail, console_db: ProvisionedDatabase, superuser_url: str, fake_raptor: FakeRaptor
) -> None:
    runtime_role = psycopg.conninfo.conninfo_to_dict(console_db.runtime_url)["user"]
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(f'REVOKE INSERT ON audit_event FROM "{runtime_role}"')
    with pytest.raises(AuditUnavailable, match="permission denied"):
        await _cancel_through_audit(trail, fake_raptor)
    assert fake_raptor.calls == 0


async def test_insert_failing_inside_the_database_refuses_the_action(
    trail: AuditTrail, superuser_url: str, fake_raptor: FakeRaptor
) -> None:
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = 'disk_full'; END $$"
        )
        conn.execute("CREATE TRIGGER boom BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION boom()")
    with pytest.raises(AuditUnavailable, match="53100"):
        await _cancel_through_audit(trail, fake_raptor)
    assert fake_raptor.calls == 0


async def test_the_same_route_reaches_raptor_once_when_the_audit_works(
    trail: AuditTrail, console_db: ProvisionedDatabase, fake_raptor: FakeRaptor
) -> None:
    await _cancel_through_audit(trail, fake_raptor)
    assert fake_raptor.calls == 1
    with psycopg.connect(console_db.runtime_url) as conn:
        phases = conn.execute("SELECT phase, outcome, http_status FROM audit_event ORDER BY seq").fetchall()
    assert phases == [("attempt", None, None), ("outcome", "ok", 200)]


async def test_outcome_write_failure_does_not_undo_a_done_action(
    trail: AuditTrail, console_db: ProvisionedDatabase, superuser_url: str, fake_raptor: FakeRaptor
) -> None:
    runtime_role = psycopg.conninfo.conninfo_to_dict(console_db.runtime_url)["user"]
    async with trail.action(audit_context(), "order.cancel", target="ord-1") as act, httpx.AsyncClient() as client:
        await client.post(f"{fake_raptor.url}/v1/orders/ord-1/cancel")
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            conn.execute(f'REVOKE INSERT ON audit_event FROM "{runtime_role}"')
    assert fake_raptor.calls == 1
    assert act.outcome_recorded is False  # the route can say so; the reconciler will close the attempt
