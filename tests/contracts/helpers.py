"""A role that holds a contract view's privileges and nothing else: what a reader needs."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from raxx.common.contracts.views import View
from raxx.common.provision import ProvisionedDatabase, drop_role
from tests.fixtures.database import DatabaseFactory


@contextmanager
def view_only_role(dbs: DatabaseFactory, db: ProvisionedDatabase, *views: View) -> Iterator[str]:
    """Yield a URL to ``db`` as a new role granted each view's privileges on it, and nothing else."""
    role, password = f"rxt_{dbs.run_id}_reader_{secrets.token_hex(3)}", secrets.token_hex(12)
    with psycopg.connect(dbs.superuser_url(db.database), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db.database), sql.Identifier(role))
        )
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        for view in views:
            privileges = sql.SQL(", ").join(sql.SQL(p) for p in view.privileges)
            conn.execute(
                sql.SQL("GRANT {} ON {} TO {}").format(privileges, sql.Identifier(view.name), sql.Identifier(role))
            )
    try:
        yield make_url(db.runtime_url).set(username=role, password=password).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dbs.superuser_url(db.database), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(sql.Identifier(db.database), sql.Identifier(role))
            )
        drop_role(dbs.admin_url, role)
