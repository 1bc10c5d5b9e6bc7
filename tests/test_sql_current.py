"""The SQL files under ``raxx/*/sql`` are the functions and triggers a migrated database has.

Migrations are history: a function defined in one revision and redefined in a later one is
read, as it stands, from its file (``src/raxx/raptor/sql/README.md``). For each Alembic tree,
on a database migrated to head, every file is executed in a transaction of its own (rolled
back), and:

* what the file (re)defines is what it touched: the catalogue rows its transaction wrote
  (``CREATE OR REPLACE`` rewrites a function's or a trigger's row even when nothing changes);
* every definition reads the same after the file as before (``pg_get_functiondef`` and
  ``pg_get_triggerdef``, white space folded; comments inside a body are part of it);
* a file defines nothing the database lacks, ``NAME.sql`` defines the function ``NAME``, and
  every function and trigger of the database is defined by exactly one file.

Each file's header names the revision that last defined it; that revision must exist in the
tree and write the function.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from raxx.common.migrations import alembic_config
from tests.fixtures.database import DatabaseFactory

#: Where each tree keeps its current SQL, inside the ``raxx`` package (none: it defines none).
SQL_DIRS = {"raptor": "raptor/sql", "console": "console/sql", "ledger": "gate/ledger/sql"}

#: Every function and trigger of the application's schemas (not PostgreSQL's, not an extension's),
#: its definition, and whether this transaction wrote its catalogue row.
DEFINITIONS = """
SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.xmin = pg_current_xact_id()::xid
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text, pg_get_triggerdef(t.oid),
       t.xmin = pg_current_xact_id()::xid
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
"""


def sql_files(tree: str) -> list[Traversable]:
    folder = files("raxx").joinpath(SQL_DIRS[tree])
    if not folder.is_dir():
        return []
    return sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


#: The header line naming the revision that last defined a file's function.
LAST_DEFINED_BY = re.compile(r"^-- As it stands at head: last defined by migration (\S+)$", re.MULTILINE)


def fold(definition: str) -> str:
    return " ".join(definition.split())


def definitions(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, bool]]:
    """Each function's and trigger's definition, by name, and whether this transaction wrote it."""
    return {key: (text, touched) for key, text, touched in conn.execute(DEFINITIONS)}


def check_file(
    conn: psycopg.Connection[Any], sql_file: Traversable, before: dict[str, str]
) -> tuple[list[str], list[str]]:
    """What ``sql_file`` defines, and what is wrong with it, in a transaction rolled back."""
    name = sql_file.name
    try:
        conn.execute(sql_file.read_text(encoding="utf-8"))
        after = definitions(conn)
    except psycopg.Error as error:
        return [], [f"{name}: does not run on the migrated database: {error}"]
    finally:
        conn.rollback()
    defined = sorted(key for key, (_, touched) in after.items() if touched)
    problems = [
        f"{name}: defines {key}, which the migrated database does not have" for key in defined if key not in before
    ]
    problems += [
        f"{name}: {key} differs from the migrated database's, which reads:\n{before[key]}"
        for key in defined
        if key in before and fold(after[key][0]) != fold(before[key])
    ]
    problems += [f"{name}: drops {key}" for key in before.keys() - after.keys()]
    stem = name.removesuffix(".sql")
    if not any(key.startswith(f"function {stem}(") for key in defined):
        problems.append(f"{name}: does not define the function {stem}")
    return defined, problems


def drift(conn: psycopg.Connection[Any], tree: str) -> list[str]:
    """Everything that keeps ``tree``'s files from being its migrated database's functions and triggers."""
    before = {key: text for key, (text, _) in definitions(conn).items()}
    conn.rollback()
    defined_by: dict[str, list[str]] = {key: [] for key in before}
    problems: list[str] = []
    for sql_file in sql_files(tree):
        defined, wrong = check_file(conn, sql_file, before)
        problems += wrong
        for key in defined:
            defined_by.setdefault(key, []).append(sql_file.name)
    where = f"src/raxx/{SQL_DIRS[tree]}"
    problems += [f"{key}: no file in {where} defines it" for key, names in defined_by.items() if not names]
    problems += [f"{key}: defined by several files: {names}" for key, names in defined_by.items() if len(names) > 1]
    return problems


@pytest.mark.parametrize("tree", sorted(SQL_DIRS))
def test_each_function_and_trigger_reads_as_its_file(test_databases: DatabaseFactory, tree: str) -> None:
    db = test_databases.fresh(tree)
    with psycopg.connect(db.owner_url) as conn:
        problems = drift(conn, tree)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("tree", sorted(SQL_DIRS))
def test_each_file_names_the_revision_that_last_defined_it(tree: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(tree, "postgresql://x@localhost/x"))
    for sql_file in sql_files(tree):
        named = LAST_DEFINED_BY.findall(sql_file.read_text(encoding="utf-8"))
        assert len(named) == 1, f"{sql_file.name}: no header line '-- As it stands at head: last defined by ...'"
        try:
            revision = scripts.get_revision(named[0])
        except CommandError:
            revision = None
        assert revision is not None, f"{sql_file.name}: no revision {named[0]} in the {tree} tree"
        function = sql_file.name.removesuffix(".sql")
        assert function in Path(revision.path).read_text(encoding="utf-8"), (
            f"{sql_file.name}: {named[0]} does not write it"
        )
