"""The audit tables are append-only: privileges for the runtime role, triggers for everyone."""

from __future__ import annotations

import psycopg
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.service import AuditTrail
from tests.console.audit.helpers import audit_context

CHANGES = [
    "UPDATE {table} SET seq = seq",
    "DELETE FROM {table}",
    "TRUNCATE {table}",
]


@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint"])
@pytest.mark.parametrize("change", CHANGES)
async def test_runtime_role_has_no_privilege_to_change_rows(
    trail: AuditTrail, console_db: ProvisionedDatabase, table: str, change: str
) -> None:
    await trail.record(audit_context(), "auth.login", outcome="ok")
    with psycopg.connect(console_db.runtime_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(change.format(table=table))
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (1,)


async def test_runtime_role_has_exactly_insert_and_select(console_db: ProvisionedDatabase) -> None:
    with psycopg.connect(console_db.runtime_url) as conn:
        rows = conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = current_user AND table_name IN ('audit_event', 'audit_checkpoint') "
            "ORDER BY 1, 2"
        ).fetchall()
    assert rows == [
        ("audit_checkpoint", "INSERT"),
        ("audit_checkpoint", "SELECT"),
        ("audit_event", "INSERT"),
        ("audit_event", "SELECT"),
    ]


@pytest.mark.parametrize("change", CHANGES)
async def test_trigger_stops_even_the_owner(trail: AuditTrail, console_db: ProvisionedDatabase, change: str) -> None:
    await trail.record(audit_context(), "auth.login", outcome="ok")
    with psycopg.connect(console_db.owner_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(change.format(table="audit_event"))
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (1,)
