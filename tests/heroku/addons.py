"""Heroku Postgres, as the harness provides it: one database and one role per app.

On Heroku an Essential database has one credential, the database's owner, and the plan
caps connections (essential-0: 20) across everything that uses it: web dynos, workers,
the release phase, one-off dynos. Here each add-on is a role with ``CONNECTION LIMIT``
set to the plan's limit, owning its own database, so any overrun fails loudly with
PostgreSQL's ``too many connections for role``. ``DATABASE_URL`` takes Heroku's
``postgres://`` form.

The server is the project's embedded PostgreSQL (``raxx.common.pgembed``: SCRAM
passwords on TCP) unless an admin URL is given. It must check passwords: a credential
rotation is only proven when the old password is refused, and a ``trust`` server (like
the test machine's on 127.0.0.1) accepts any password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from raxx.common.db import libpq_url
from raxx.common.pgembed import EmbeddedPostgres, free_port


@dataclass
class PostgresServer:
    """Where the add-ons live; ``stop()`` stops the embedded server if this run started it."""

    admin_url: str
    embedded: EmbeddedPostgres | None = None
    started: bool = False

    @classmethod
    def open(cls, state: Path, admin_url: str | None = None) -> PostgresServer:
        if admin_url:
            return cls(admin_url)
        embedded = EmbeddedPostgres(state / "pg")
        if not (embedded.pgdata / "PG_VERSION").exists():
            embedded.port = free_port()
        started = embedded.start()
        embedded.wait_ready()
        return cls(embedded.admin_url(), embedded, started)

    @property
    def host_port(self) -> tuple[str, int]:
        url = make_url(libpq_url(self.admin_url))
        return url.host or "127.0.0.1", url.port or 5432

    def checks_passwords(self) -> bool:
        """Whether a wrong password is refused (it is not on a ``trust`` server)."""
        role = "hx_probe_" + secrets.token_hex(4)
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal("right")))
        try:
            host, port = self.host_port
            psycopg.connect(f"postgresql://{role}:wrong@{host}:{port}/postgres", connect_timeout=5).close()
            return False
        except psycopg.OperationalError:
            return True
        finally:
            with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))

    def stop(self) -> None:
        if self.embedded is not None and self.started:
            self.embedded.stop()


@dataclass
class PostgresAddon:
    """One app's database: ``<prefix>`` names both the role and the database."""

    server: PostgresServer
    name: str
    connection_limit: int
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: Passwords this add-on had before (rotation keeps them to prove they are refused).
    retired: list[str] = field(default_factory=list)
    #: How many open connections each rotation reset.
    reset_connections: list[int] = field(default_factory=list)

    def url(self, password: str | None = None) -> str:
        """``DATABASE_URL`` in Heroku's form."""
        host, port = self.server.host_port
        pw = quote(password or self.password, safe="")
        return f"postgres://{self.name}:{pw}@{host}:{port}/{self.name}"

    def provision(self) -> None:
        ident, limit = sql.Identifier(self.name), sql.Literal(self.connection_limit)
        with psycopg.connect(libpq_url(self.server.admin_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} CONNECTION LIMIT {}").format(
                    ident, sql.Literal(self.password), limit
                )
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, ident))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))

    def rotate(self) -> str:
        """``heroku pg:credentials:rotate`` of the default credential: a new password now, the old
        one refused from now on, and every open connection of the role reset ("Connections will
        be reset and applications will be restarted", the CLI's warning): requests in flight lose
        their connection before their dynos restart. Returns the new URL."""
        new = secrets.token_urlsafe(24)
        with psycopg.connect(libpq_url(self.server.admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(self.name), sql.Literal(new)))
            reset = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
                (self.name,),
            ).fetchone()
        self.reset_connections.append(int(reset[0]) if reset else 0)
        self.retired.append(self.password)
        self.password = new
        return self.url()

    def connections(self) -> int:
        """Connections open as this add-on's role right now (``heroku pg:info``'s figure)."""
        with psycopg.connect(libpq_url(self.server.admin_url), autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def admin_connect(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection to this add-on's database (outside its role's limit), for checks."""
        head, _, _ = libpq_url(self.server.admin_url).rpartition("/")
        return psycopg.connect(f"{head}/{self.name}", autocommit=True)

    def drop(self) -> None:
        ident = sql.Identifier(self.name)
        with psycopg.connect(libpq_url(self.server.admin_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
