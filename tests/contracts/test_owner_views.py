"""The owner's side of each cross-deployable view: its migration makes exactly the declared contract.

For every view in ``raxx.common.contracts``: migrating the owner's tree creates it with
exactly the declared columns and types, a comment naming its reader, the declared
privileges (and no others) for the role the reader is handed, and a role holding only the
view can use it while the table behind it stays closed to that role.
"""

from __future__ import annotations

import importlib
import pkgutil

import psycopg
import pytest
from psycopg import errors, sql

from raxx.common import contracts
from raxx.common.contracts.audit import AUDIT_EVIDENCE_VIEW
from raxx.common.contracts.board import RELEASE_BOARD_VIEW
from raxx.common.contracts.health import DEPLOY_HISTORY_VIEW, DEPLOYMENT_HEALTH_VIEW, INCIDENT_HISTORY_VIEW
from raxx.common.contracts.release_requests import RELEASE_REQUEST_VIEW
from raxx.common.contracts.views import View
from tests.contracts.helpers import view_only_role
from tests.fixtures.database import DatabaseFactory

#: Each view and the table behind it (the owner's business, named here only to prove it stays closed).
VIEWS = {
    RELEASE_BOARD_VIEW: "release_board",
    RELEASE_REQUEST_VIEW: "release_request",
    DEPLOYMENT_HEALTH_VIEW: "health_sample",
    DEPLOY_HISTORY_VIEW: "release",
    INCIDENT_HISTORY_VIEW: "incident",
    AUDIT_EVIDENCE_VIEW: "audit_event",
}
READER_WORDS = {"console": "the console", "gate": "the release gate"}


def test_every_view_declared_in_the_contracts_is_checked_here() -> None:
    declared = {
        value
        for module in pkgutil.iter_modules(contracts.__path__)
        for value in vars(importlib.import_module(f"{contracts.__name__}.{module.name}")).values()
        if isinstance(value, View)
    }
    assert declared == set(VIEWS)


@pytest.mark.parametrize("view", list(VIEWS), ids=lambda v: v.name)
def test_the_owner_migration_creates_the_view_as_declared(test_databases: DatabaseFactory, view: View) -> None:
    db = test_databases.fresh(view.owner)
    runtime = test_databases.runtime(view.owner)
    with psycopg.connect(db.owner_url) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            (view.name,),
        ).fetchall()
        kind, comment = conn.execute(
            "SELECT relkind, obj_description(oid, 'pg_class') FROM pg_class WHERE oid = %s::regclass", (view.name,)
        ).fetchone()
        granted = {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            if conn.execute("SELECT has_table_privilege(%s, %s, %s)", (runtime, view.name, privilege)).fetchone()
            == (True,)
        }
    assert tuple(columns) == view.columns
    assert kind == "v"
    assert comment.startswith("Contract v1, owned by")
    assert READER_WORDS[view.reader] in comment
    assert granted == set(view.privileges)


@pytest.mark.parametrize("view", list(VIEWS), ids=lambda v: v.name)
def test_a_role_with_only_the_view_reads_it_and_not_the_table_behind(
    test_databases: DatabaseFactory, view: View
) -> None:
    db = test_databases.fresh(view.owner)
    name, table, first = sql.Identifier(view.name), sql.Identifier(VIEWS[view]), sql.Identifier(view.column_names[0])
    with view_only_role(test_databases, db, view) as url, psycopg.connect(url) as conn:
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone() == (0,)
        refused = [
            sql.SQL("SELECT count(*) FROM {}").format(table),
            sql.SQL("DELETE FROM {}").format(table),
            *([sql.SQL("UPDATE {} SET {} = {}").format(name, first, first)] if "UPDATE" not in view.privileges else []),
        ]
        for statement in refused:
            conn.rollback()
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
