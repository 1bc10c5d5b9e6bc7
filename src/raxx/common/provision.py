"""Create an app's database with two roles: an owner (migrations) and a runtime role.

The runtime role gets ordinary table privileges through default privileges; a
migration can narrow them (the audit table allows INSERT and SELECT only). Each
deployment gets its own database and its own pair of roles, so staging credentials
cannot open prod's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from raxx.common.db import libpq_url


@dataclass(frozen=True)
class ProvisionedDatabase:
    database: str
    owner_url: str
    runtime_url: str


def _swap(admin_url: str, *, user: str, password: str, database: str) -> str:
    url = make_url(libpq_url(admin_url))
    host = url.host or "127.0.0.1"
    port = url.port or 5432
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"


def _ensure_role(cur: psycopg.Cursor, name: str, password: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))


def provision_database(
    admin_url: str,
    *,
    database: str,
    owner: str,
    owner_password: str,
    runtime: str,
    runtime_password: str,
    template: str | None = None,
) -> ProvisionedDatabase:
    """Idempotently create ``database`` owned by ``owner`` and usable by ``runtime``."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, owner, owner_password)
        _ensure_role(cur, runtime, runtime_password)
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if not cur.fetchone():
            stmt = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
            if template:
                stmt = stmt + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            cur.execute(stmt)
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        cur.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(runtime)
            )
        )
    owner_url = _swap(admin_url, user=owner, password=owner_password, database=database)
    with psycopg.connect(owner_url, autocommit=True) as conn, conn.cursor() as cur:
        o, r = sql.Identifier(owner), sql.Identifier(runtime)
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(r))
        cur.execute(
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
            ).format(o, r)
        )
        cur.execute(
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
            ).format(o, r)
        )
    return ProvisionedDatabase(
        database=database,
        owner_url=owner_url,
        runtime_url=_swap(admin_url, user=runtime, password=runtime_password, database=database),
    )


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def drop_role(admin_url: str, role: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
