"""Migrations are history: each revision's downgrade returns exactly to its parents' schema, and
migrating to the heads again after a downgrade to base builds the same database, and a revision
imports nothing of raxx that is not history itself.

``tests.fixtures.schemas`` reads a database's catalog (privileges of the runtime role, function
definitions and rows included). Run as a script it writes the same texts for a checkout, so
a change to the Python around the migrations can be compared with ``diff -r`` against the
texts of the commit before it (the issue-22 clean-up was checked that way: no difference).
"""

from __future__ import annotations

import ast
import re
from importlib.resources import files

import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from raxx.common.alerts.history import OUTBOX_V1
from raxx.common.alerts.tables import alert, alert_delivery
from raxx.common.migrations import TREE_PATHS
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.schemas import revisions, walk

# c20261203_0006_audit_session_env's downgrade restores c20261126_0003's audit_append without
# the two comments in its body (the code is the same): SQL comments are left out of the comparison.
SQL_COMMENT = re.compile(r"^\s*--.*\n", re.M)

#: What a revision may import of raxx: helpers that are history themselves (a module the app
#: changes, such as ``alerts.tables``, would change what an old revision does).
HISTORY_MODULES = {"raxx.common.migration_ops", "raxx.common.migrations", "raxx.common.alerts.history"}


@pytest.mark.parametrize("tree", ["raptor", "console", "ledger"])
def test_every_downgrade_returns_to_its_parents(test_databases: DatabaseFactory, tree: str) -> None:
    texts = {step.name: SQL_COMMENT.sub("", step.text) for step in walk(test_databases, tree)}
    ups = {name.split("-up-")[1]: text for name, text in texts.items() if "-up-" in name}
    for n, (revision, parents) in enumerate(revisions(tree), start=1):
        if not parents:
            expected = texts["base"]
        elif len(parents) == 1:
            expected = ups[parents[0]]
        else:
            expected = texts[f"{n:02d}-parents-{revision}"]
        assert texts[f"{n:02d}-down-{revision}"] == expected, f"{tree}: downgrading {revision}"
    assert texts["heads-again"] == texts["heads"]
    assert "== function" in texts["heads"]


def test_the_outbox_code_reads_is_the_one_migrations_made() -> None:
    """``raxx.common.alerts.tables`` describes the tables version 1 of the outbox created."""
    dialect = sa.create_engine("postgresql+psycopg://").dialect
    statements = []
    for table in (alert, alert_delivery):
        statements.append(CreateTable(table).compile(dialect=dialect))
        statements += [CreateIndex(index).compile(dialect=dialect) for index in table.indexes]

    def words(sql: object) -> list[str]:
        return str(sql).replace(",", " , ").split()

    assert sorted(map(words, statements)) == sorted(map(words, OUTBOX_V1))


@pytest.mark.parametrize("tree", sorted(TREE_PATHS))
def test_revisions_import_only_history(tree: str) -> None:
    folder = files("raxx").joinpath(TREE_PATHS[tree], "versions")
    for revision in (f for f in folder.iterdir() if f.name.endswith(".py")):
        nodes = list(ast.walk(ast.parse(revision.read_text(encoding="utf-8"))))
        modules = [n.module or "" for n in nodes if isinstance(n, ast.ImportFrom)]
        modules += [alias.name for n in nodes if isinstance(n, ast.Import) for alias in n.names]
        imported = {module for module in modules if module.split(".")[0] == "raxx"}
        assert imported <= HISTORY_MODULES, f"{tree}/{revision.name} imports {sorted(imported - HISTORY_MODULES)}"
