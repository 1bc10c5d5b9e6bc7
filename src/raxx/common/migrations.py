"""Alembic, one tree per database: ``raptor``, ``console`` and ``ledger``.

Trees are addressed by file path inside the installed ``raxx`` package, so this leaf
module never imports the apps that own them.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from raxx.common.db import sqlalchemy_url, url_username
from raxx.common.errors import ConfigError

Tree = Literal["raptor", "console", "ledger"]
TREE_PATHS: dict[str, str] = {
    "raptor": "raptor/migrations",
    "console": "console/migrations",
    "ledger": "gate/ledger/migrations",
}


def alembic_config(tree: str, url: str, *, runtime_role: str | None = None) -> Config:
    """An Alembic config for ``tree`` against ``url``.

    ``runtime_role`` is the role the app connects as at run time; migrations grant it
    exactly the privileges it needs (the audit table gets INSERT and SELECT only).
    """
    if tree not in TREE_PATHS:
        raise ConfigError(f"unknown migration tree {tree!r}; expected one of {sorted(TREE_PATHS)}")
    cfg = Config()
    cfg.set_main_option("script_location", str(files("raxx") / TREE_PATHS[tree]))
    # ConfigParser interpolation would choke on '%' in URL-encoded passwords.
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    cfg.attributes["runtime_role"] = runtime_role
    return cfg


def upgrade(tree: str, url: str, *, runtime_url: str | None = None) -> None:
    """Migrate ``tree`` to all heads, granting the runtime role its privileges."""
    role = url_username(runtime_url) if runtime_url else None
    owner = url_username(url)
    command.upgrade(alembic_config(tree, url, runtime_role=role if role != owner else None), "heads")


def _script(tree: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(tree, "postgresql://x@localhost/x"))


def script_heads(tree: str) -> set[str]:
    return set(_script(tree).get_heads())


def known_revisions(tree: str) -> set[str]:
    """Every revision of ``tree`` this code has (a database may be at one it does not know)."""
    return {revision.revision for revision in _script(tree).walk_revisions()}


def revision_sql(tree: str, revision: str, name: str) -> str:
    """The SQL text an earlier revision keeps in its module variable ``name``: a later
    revision's downgrade restores what that one created without writing it twice."""
    found = _script(tree).get_revision(revision)
    if found is None:
        raise ConfigError(f"no revision {revision!r} in the {tree} tree")
    return str(getattr(found.module, name))


def current_heads(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def heads_at(url: str) -> set[str]:
    """The revisions the database at ``url`` is at, over a connection of its own."""
    from sqlalchemy import create_engine

    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return current_heads(conn)
    finally:
        engine.dispose()
