"""How the ``raxx`` command tree answers a failure: one line on stderr, one documented exit code.

This is the one mapping for every command (``raxx.cli.RaxxGroup`` calls ``explain``):
commands raise, this module says what failed and how to fix it. Tracebacks are printed
only with ``raxx --debug`` (or ``RAXX_DEBUG=1``), and then the exit code is the same.

It imports nothing heavy: the exceptions of SQLAlchemy, psycopg, httpx and aiohttp are
recognised only when that library was imported (``sys.modules``), so ``raxx --help``
stays fast. A database that cannot be reached is named by what psycopg says it tried
(host, port, database, role) and by the setting or option that holds that URL.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import IntEnum
from typing import Any
from urllib.parse import unquote, urlsplit

from raxx.common.errors import ConfigError, RaxxError, Unavailable


class Exit(IntEnum):
    """The exit codes every command shares (3-7 are each command's own verdicts)."""

    OK = 0
    REFUSED = 1  # a RaxxError that is not one of the kinds below (unknown id, conflict, a rule)
    USAGE = 2  # click: unknown command or option, an invalid option value
    UNAVAILABLE = Unavailable.exit_code  # 69: a database or service could not be reached
    SOFTWARE = 70  # an unexpected error: a bug
    IO = 74  # a file could not be read or written
    CONFIG = ConfigError.exit_code  # 78: a setting is missing or wrong
    INTERRUPTED = 130  # Ctrl-C
    CLOSED_PIPE = 141  # the reader of our output went away (`| head`): 128 + SIGPIPE, said quietly


#: Every exit code a ``raxx`` command can end with; the README's table lists the same codes
#: (``tests/test_cli.py`` compares them).
EXIT_CODES: dict[str, str] = {
    "0": "success (for verdicts: pass, intact)",
    "1": "refused: the request was understood and refused (unknown user or id, a conflict, a rule)",
    "2": "usage: unknown command or option, or an invalid option value (the line names it)",
    "3-7": "the command's own verdict: `raxx gate` (3 blocked, 4 cannot decide, 5 deploy failed, "
    "6 rolled back, 7 rollback failed) and `raxx audit verify` (3 edited, 4 missing, 5 truncated, "
    "6 bad checkpoint); a gate command that cannot reach its ledger exits 4",
    "69": "unavailable: a database or service could not be reached",
    "70": "internal error: a bug; `raxx --debug ...` prints the traceback",
    "74": "a file could not be read or written",
    "78": "configuration: a setting is missing or wrong (including a database URL whose role, "
    "password or database is wrong, or a database that is not migrated)",
    "130": "interrupted (Ctrl-C)",
    "141": "the reader of the output went away (`raxx audit export | head`); nothing is printed",
}


#: What an unreachable database or service means, by top-level command, where it is not 69:
#: a gate command cannot decide (``raxx.gate.verdict``: 4), and CI branches on that.
UNAVAILABLE_BY_GROUP = {"gate": 4}
#: The Alembic tree of the database each top-level command works on (for "not migrated").
TREE_BY_GROUP = {"raptor": "raptor", "console": "console", "audit": "console", "gate": "ledger", "monitor": "ledger"}


@dataclass(frozen=True)
class Failure:
    code: int
    line: str


def explain(exc: BaseException, *, group: str | None = None) -> Failure:
    """The one line and exit code for ``exc`` raised by a command under ``raxx GROUP``."""
    failure = _explain(exc, group)
    unavailable = UNAVAILABLE_BY_GROUP.get(group or "")
    if failure.code == Exit.UNAVAILABLE and unavailable is not None:
        return Failure(unavailable, failure.line)
    return failure


def _explain(exc: BaseException, group: str | None) -> Failure:
    if isinstance(exc, RaxxError):
        return Failure(exc.exit_code, str(exc.detail))
    if isinstance(exc, KeyboardInterrupt):
        return Failure(Exit.INTERRUPTED, "interrupted")
    failure = _database_failure(exc, TREE_BY_GROUP.get(group or "")) or _http_failure(exc) or _os_failure(exc)
    if failure is not None:
        return failure
    return Failure(
        Exit.SOFTWARE,
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        "(a bug: run again with `raxx --debug ...` for the traceback, and report it)",
    )


# --- PostgreSQL -------------------------------------------------------------------------

#: What the server says when the URL itself is wrong (not that the server is down).
_WRONG_URL = ("password authentication failed", "does not exist", "no pg_hba.conf entry", "authentication failed")
#: SQLSTATEs of a schema that is not there: the database was not migrated (or is another one).
_NOT_MIGRATED = {"42P01": "relation", "42703": "column", "42883": "function"}


def _database_failure(exc: BaseException, tree: str | None) -> Failure | None:
    psycopg: Any = sys.modules.get("psycopg")
    sa_exc: Any = sys.modules.get("sqlalchemy.exc")
    original = exc
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        original = exc.orig
    if psycopg is None or not isinstance(original, psycopg.Error):
        return None
    conn = getattr(original, "pgconn", None)
    target = _Target.of(conn)
    if original.sqlstate in _NOT_MIGRATED:
        return _not_migrated(original, tree)
    if not isinstance(original, psycopg.OperationalError):
        return None
    reason = _server_reason(original)
    if original.sqlstate == "53300" or "too many clients" in reason:
        where = target.describe() if target else "the database"
        return Failure(
            Exit.UNAVAILABLE, f"{where} is at its connection limit ({reason}); retry shortly, or stop what holds them"
        )
    if target is None:
        return Failure(
            Exit.UNAVAILABLE,
            f"cannot connect to PostgreSQL: {reason}; check the database URL this command uses "
            "(its --database-url option or *_DATABASE_URL setting)",
        )
    where = target.describe()
    if any(marker in reason for marker in _WRONG_URL):
        return Failure(Exit.CONFIG, f"{where} refused the connection: {reason}; correct {target.source()}")
    return Failure(
        Exit.UNAVAILABLE,
        f"cannot reach {where}: {reason}; start PostgreSQL there (`raxx up` runs one) or correct {target.source()}",
    )


def _not_migrated(original: Any, tree: str | None) -> Failure:
    kind = _NOT_MIGRATED[original.sqlstate]
    fix = f"`raxx migrate {tree}`" if tree else "`raxx migrate TREE` (raptor, console or ledger)"
    return Failure(
        Exit.CONFIG,
        f"the database is not migrated or is not this app's ({_first_line(original)}: a {kind} is missing); "
        f"run {fix} on it, or correct the database URL",
    )


def _server_reason(error: Any) -> str:
    """``Connection refused`` out of libpq's "connection to server at ... failed: Connection refused"."""
    text = _first_line(error)
    if "failed: " in text:
        text = text.rsplit("failed: ", 1)[1]
    return text.replace("FATAL:  ", "").strip() or type(error).__name__


@dataclass(frozen=True)
class _Target:
    """The database psycopg tried: from its connection object, which a failed connect keeps."""

    host: str
    port: int
    database: str
    user: str

    @classmethod
    def of(cls, conn: Any) -> _Target | None:
        if conn is None:
            return None
        try:
            decoded = [(value or b"").decode() for value in (conn.host, conn.port, conn.db, conn.user)]
        except Exception:  # a connection object that lost its details: say less
            return None
        host, port, database, user = decoded
        return cls(host, int(port or 5432), database, user)

    def describe(self) -> str:
        return f'database "{self.database}" as "{self.user}" at {self.host}:{self.port}'

    def settings(self) -> list[str]:
        """Where this database's URL came from: the command line, else the settings holding it."""
        if any(self.is_at(arg.split("=", 1)[-1]) for arg in sys.argv[1:]):
            return ["the URL given on the command line"]
        return sorted(key for key, value in os.environ.items() if self.is_at(value))

    def source(self) -> str:
        named = self.settings()
        return " / ".join(named) if named else "the database URL (--database-url or the *_DATABASE_URL setting)"

    def is_at(self, value: str) -> bool:
        if "://" not in value or not value.startswith("postgres"):
            return False
        try:
            url = urlsplit(value)
            port = url.port or 5432
        except ValueError:
            return False
        return (
            url.hostname == self.host
            and port == self.port
            and unquote(url.path.lstrip("/")) == self.database
            and unquote(url.username or "") == self.user
        )


# --- HTTP services and files ----------------------------------------------------------


def _http_failure(exc: BaseException) -> Failure | None:
    httpx: Any = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TransportError):
        try:
            url = str(exc.request.url)
        except RuntimeError:  # an error raised before a request existed
            url = "a service"
        reason = _first_line(exc) or type(exc).__name__
        return Failure(Exit.UNAVAILABLE, f"cannot reach {url}: {reason}; is the service running, and is its URL right?")
    aiohttp: Any = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectionError):
        return Failure(Exit.UNAVAILABLE, f"cannot reach a service: {_first_line(exc)}; is it running?")
    return None


def _os_failure(exc: BaseException) -> Failure | None:
    if isinstance(exc, ConnectionError | TimeoutError):
        return Failure(Exit.UNAVAILABLE, f"cannot connect: {exc.strerror or _first_line(exc) or type(exc).__name__}")
    if isinstance(exc, OSError) and exc.filename is not None:
        return Failure(Exit.IO, f"cannot use {exc.filename}: {exc.strerror or _first_line(exc)}")
    if isinstance(exc, OSError):
        return Failure(Exit.IO, f"input/output error: {exc.strerror or _first_line(exc)}")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else ""
