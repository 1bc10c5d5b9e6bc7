"""The ORM models are the tables a migrated database has.

Migrations are history and the models are the tables as the code reads and writes them: a
column a migration added and no model declares (or a default one side has and the other
lacks) is found here, not by a query at run time or by ``alembic revision --autogenerate``
proposing to drop it. For each Alembic tree, on a database migrated to head, Alembic's own
comparison (tables, columns, types, nullability, server defaults, indexes, unique and
foreign-key constraints) of the tree's ``SCHEMA`` (what its ``env.py`` gives Alembic) finds
nothing to change. Alembic does not compare CHECK constraints, the rules the models state
(an order's statuses, a release's triggers): those are compared as PostgreSQL prints them, on
the migrated database and on one built from the models (``create_all``). Functions and
triggers are ``tests/test_sql_current.py``'s.
"""

from __future__ import annotations

import importlib
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData

from raxx.common.db import sqlalchemy_url
from tests.fixtures.database import DatabaseFactory

#: Where each tree's env.py takes its ``SCHEMA`` from.
MODELS = {"raptor": "raxx.raptor.models", "console": "raxx.console.models", "ledger": "raxx.gate.ledger.models"}


#: Every CHECK constraint of the application's tables, as PostgreSQL prints it.
CHECKS = """
SELECT c.conrelid::regclass::text || '.' || c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'c' AND n.nspname = 'public'
"""


def schema(tree: str) -> list[MetaData]:
    return list(importlib.import_module(MODELS[tree]).SCHEMA)


def differences(url: str, metadata: list[MetaData]) -> list[Any]:
    """What ``alembic revision --autogenerate`` would write to take the database to ``metadata``."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "compare_server_default": True}
            return list(compare_metadata(MigrationContext.configure(conn, opts=opts), metadata))
    finally:
        engine.dispose()


@pytest.mark.parametrize("tree", sorted(MODELS))
def test_the_models_declare_the_migrated_tables(test_databases: DatabaseFactory, tree: str) -> None:
    db = test_databases.fresh(tree)
    found = differences(db.owner_url, schema(tree))
    assert not found, f"{tree}: the models and the migrated database differ:\n" + "\n".join(map(repr, found))


def checks(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {name: definition for name, definition in conn.execute(CHECKS)}


@pytest.mark.parametrize("tree", sorted(MODELS))
def test_the_models_check_constraints_are_the_migrated_ones(test_databases: DatabaseFactory, tree: str) -> None:
    migrated, declared = test_databases.fresh(tree), test_databases.empty(tree)
    engine = sa.create_engine(sqlalchemy_url(declared.owner_url), poolclass=sa.NullPool)
    try:
        for metadata in schema(tree):
            metadata.create_all(engine)
    finally:
        engine.dispose()
    expected, found = checks(migrated.owner_url), checks(declared.owner_url)
    assert expected, f"{tree}: no CHECK constraint read (the query is wrong)"
    wrong = {
        name: {"migrated": expected.get(name), "models": found.get(name)}
        for name in expected.keys() | found.keys()
        if expected.get(name) != found.get(name)
    }
    assert not wrong, f"{tree}: CHECK constraints differ: {wrong}"


def test_a_column_the_models_lack_is_found(test_databases: DatabaseFactory) -> None:
    """The comparison sees what this test exists for (a column added by hand here)."""
    db = test_databases.fresh("raptor")
    engine = sa.create_engine(sqlalchemy_url(db.owner_url), poolclass=sa.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE orders ADD COLUMN note text"))
        conn.execute(sa.text("ALTER TABLE trading_state ALTER COLUMN reason SET DEFAULT 'x'"))
    engine.dispose()
    found = differences(db.owner_url, schema("raptor"))
    kinds = sorted(d[0][0] if isinstance(d, list) else d[0] for d in found)
    assert kinds == ["modify_default", "remove_column"], found
