"""Database engines and URL handling: PostgreSQL only, psycopg 3 for sync and async."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from raxx.common.errors import ConfigError


def sqlalchemy_url(url: str) -> str:
    """Normalise ``postgres://`` / ``postgresql://`` URLs to the psycopg 3 dialect.

    Heroku hands out ``postgres://`` URLs; SQLAlchemy wants a driver name.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith("postgresql+psycopg://"):
        raise ConfigError(f"only PostgreSQL URLs are supported, got scheme {urlsplit(url).scheme!r}")
    return url


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` form that psql, pgbench and psycopg.connect accept."""
    return sqlalchemy_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe for logs and error messages."""
    return make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)


def url_username(url: str) -> str | None:
    return make_url(sqlalchemy_url(url)).username


def create_engine(url: str, *, application_name: str, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An async engine with pre-ping so a restarted PostgreSQL is reconnected to by itself."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": application_name, "connect_timeout": 5},
    )


def create_sync(url: str, *, application_name: str) -> Engine:
    return create_sync_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        connect_args={"application_name": application_name, "connect_timeout": 5},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def database_fingerprint(conn: AsyncConnection) -> str:
    """A short id that differs between databases, even on one server.

    System identifier (distinguishes clusters) plus database oid and name (distinguishes
    databases on one cluster). ``pg_control_system()`` needs no superuser.
    """
    row = (
        await conn.execute(
            text(
                "SELECT (SELECT system_identifier FROM pg_control_system())::text, "
                "d.oid::text, d.datname FROM pg_database d WHERE d.datname = current_database()"
            )
        )
    ).one()
    digest = hashlib.sha256("|".join(row).encode()).hexdigest()[:16]
    return f"{row[2]}:{digest}"
