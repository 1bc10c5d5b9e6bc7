"""Database engines and URL handling: PostgreSQL only, psycopg 3 for sync and async."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg_pool
import sqlalchemy.exc
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from raxx.common.dbbudget import ACQUIRE_TIMEOUT_S
from raxx.common.errors import BadRequest, ConfigError, DatabaseBusy, DatabaseUnavailable, field_errors
from raxx.common.logging import log_event
from raxx.common.storable import UNSTORABLE_MESSAGE

log = logging.getLogger("raxx.db")


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


#: Given the URL a connection just failed with, the URL to use now (None: nothing newer).
UrlRefresh = Callable[[str], Awaitable[str | None]]


def create_engine(
    url: str, *, application_name: str, pool_size: int, refresh_url: UrlRefresh | None = None
) -> AsyncEngine:
    """An async engine of at most ``pool_size`` connections (``raxx.common.dbbudget`` sizes
    it), with pre-ping so a restarted PostgreSQL is reconnected to by itself.

    Never more: an overflow connection is one the budget did not count (and overflow
    connections are closed on return, so a burst paid a new connection each, measured).
    A checkout waits at most ``ACQUIRE_TIMEOUT_S`` for a connection to come back.

    ``refresh_url``: for a URL that is read at run time and can change under a running
    process (Heroku rotates Heroku Postgres credentials): when a new connection fails, the
    engine asks for the current URL and, if it changed, connects with that one instead."""
    options: dict[str, Any] = {"application_name": application_name, "connect_timeout": 5}
    how: dict[str, Any] = {"connect_args": options}
    if refresh_url is not None:
        how = {"async_creator": _refreshing_connect(libpq_url(url), refresh_url, options)}
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=ACQUIRE_TIMEOUT_S,
        pool_pre_ping=True,
        pool_recycle=1800,
        **how,
    )


def _refreshing_connect(
    url: str, refresh_url: UrlRefresh, options: dict[str, Any]
) -> Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]:
    current = [url]

    async def connect() -> psycopg.AsyncConnection[Any]:
        used = current[0]
        try:
            return await psycopg.AsyncConnection.connect(used, **options)
        except psycopg.OperationalError:
            newer = await refresh_url(used)
            if newer is None or libpq_url(newer) == used:
                raise
            current[0] = libpq_url(newer)
            return await psycopg.AsyncConnection.connect(current[0], **options)

    return connect


#: SQLSTATE 53300: the server has no connection slot left for this role or database.
TOO_MANY_CONNECTIONS = psycopg.errors.TooManyConnections.sqlstate


#: Where "no connection in time" surfaces: SQLAlchemy's pool wait, psycopg's pool wait, the
#: server's refusal (raw, or wrapped by SQLAlchemy with other operational errors).
BUSY_EXCEPTIONS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.OperationalError,
    psycopg_pool.PoolTimeout,
    psycopg.errors.TooManyConnections,
)


def is_database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` means "no connection could be had in time": a pool's wait ran out,
    or the server refused a new connection for lack of slots (``too many connections``)."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        exc = exc.orig  # type: ignore[assignment]
    if isinstance(exc, sqlalchemy.exc.TimeoutError | psycopg_pool.PoolTimeout):
        return True
    return isinstance(exc, psycopg.Error) and exc.sqlstate == TOO_MANY_CONNECTIONS


#: SQLSTATEs of a server that cannot serve this connection now: shutting down
#: (admin_shutdown, crash_shutdown) or still starting (cannot_connect_now).
_SERVER_GOING_AWAY = frozenset({"57P01", "57P02", "57P03"})

#: Where "the database is not there" surfaces, beside the busy ones.
UNREACHABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DBAPIError,
    psycopg.OperationalError,
)


def is_database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database could not be reached or dropped the connection
    (no server listening, restarting, shutting down, a connection cut): an outage to answer
    with a 503, not a bug. Errors of the statement itself (a constraint, bad SQL) are not."""
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig  # type: ignore[assignment]
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _SERVER_GOING_AWAY


def unreachable_error(exc: BaseException) -> DatabaseUnavailable:
    """The 503 a request gets when the database is not there, logged as one line
    (``db.connection.unavailable``; never the server's text, which may name roles)."""
    log_event(log, "db.connection.unavailable", level=logging.WARNING, error=type(exc).__name__)
    return DatabaseUnavailable("the database is not reachable right now; retry shortly")


def busy_error(exc: BaseException, pool: str) -> DatabaseBusy:
    """The 503 a request gets instead of ``exc`` (never the server's text: it names roles),
    logged as one line naming the pool (``db.connection.busy``): an operator graphs these."""
    refused = _refused(exc)
    log_event(log, "db.connection.busy", level=logging.WARNING, pool=pool, refused_by_server=refused)
    what = "the database has no free connection" if refused else "the wait for a pooled connection ran out"
    return DatabaseBusy(f"the database is busy ({what}); retry shortly")


def _refused(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    return isinstance(orig, psycopg.Error) and orig.sqlstate == TOO_MANY_CONNECTIONS


#: Text the database would not take, a client's input that got past its field's check:
#: untranslatable_character (``\u0000`` in ``jsonb``), character_not_in_repertoire.
_UNSTORABLE_TEXT_STATES = frozenset({"22P05", "22021"})
#: Where such a refusal surfaces: wrapped by SQLAlchemy, or raw from psycopg's own pool.
UNSTORABLE_TEXT_EXCEPTIONS: tuple[type[Exception], ...] = (sqlalchemy.exc.DBAPIError, psycopg.DataError)
#: What psycopg says (no SQLSTATE: it refuses before sending) when a parameter holds NUL.
_NUL_REFUSAL = "cannot contain NUL"


def is_unstorable_text(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a parameter's text (NUL, a character it cannot
    store): bad input that reached a statement, not a broken server. Only these: any other data
    error (a numeric overflow, a bad date) stays a bug to see."""
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    if not isinstance(orig, psycopg.DataError):
        return False
    return orig.sqlstate in _UNSTORABLE_TEXT_STATES or (orig.sqlstate is None and _NUL_REFUSAL in str(orig))


def unstorable_text_error(exc: BaseException) -> BadRequest:
    """The 422 (``validation_error``, the field unknown) a request gets when its text reached a
    statement that could not store it; its transaction is rolled back like any failed request.
    Logged as one line: the field's check that let it through is the thing to fix."""
    log_event(log, "db.text.refused", level=logging.WARNING, error=type(getattr(exc, "orig", exc)).__name__)
    return field_errors({None: f"text {UNSTORABLE_MESSAGE}"})


@contextmanager
def busy_as_unavailable(pool: str) -> Iterator[None]:
    """Turn a connection of ``pool`` that could not be had in time into ``DatabaseBusy`` (a
    clean 503 with ``Retry-After``, never a traceback); any other error passes unchanged."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, psycopg.Error) as exc:
        if is_database_busy(exc):
            raise busy_error(exc, pool) from None
        raise


def create_sync(url: str, *, application_name: str) -> Engine:
    """A synchronous engine for a command's few statements: no pool, one connection at a time
    (what a one-off's reservation in ``raxx.common.dbbudget`` counts)."""
    return create_sync_engine(
        sqlalchemy_url(url),
        poolclass=NullPool,
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
