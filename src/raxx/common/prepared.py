"""One hot statement run through libpq directly: prepared once per connection, text in, bytes out.

Why: psycopg's cursor costs ~120-150 us of Python per round trip on this machine (adapting
the parameters, its own prepared-statement bookkeeping, building rows through loaders),
~70 us of which is its layers rather than the socket (``bench/README.md``, "2026-11-27
(night)"). On a path where one connection's round trips are serialized (the paper
venue's batch call holds the account lock), that Python time sits between the database's
calls, so the database idles through it. Here the statement is sent with
``send_query_prepared`` and awaited with psycopg's own generator and ``wait`` (the same
code the cursor ends in, including cancelling the query on the server when the caller is
interrupted): the parameters are the caller's bytes, the rows come back as the server's text.

Use it only where the caller already has its parameters as text and wants the columns as
bytes; everywhere else psycopg's cursor is the right tool.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, generators, pq

Row = tuple[bytes | None, ...]


class PreparedQuery:
    """``sql`` (parameters ``$1``, ``$2``, ..., text format) under the server-side ``name``.

    The statement is prepared on a connection the first time it runs there, and again if
    the server has forgotten it (``DEALLOCATE ALL`` or ``DISCARD ALL`` by someone else).
    """

    def __init__(self, name: str, sql: str) -> None:
        self.name = name.encode()
        self.sql = sql.encode()
        self._prepared_on: weakref.WeakSet[psycopg.AsyncConnection[Any]] = weakref.WeakSet()

    async def fetch(self, conn: psycopg.AsyncConnection[Any], params: Sequence[bytes | None]) -> list[Row]:
        """Run on ``conn``; every row, each column the server's text (None for NULL). A
        failed statement raises psycopg's error for its SQLSTATE, as a cursor would.

        No transaction is opened here: on an autocommit connection the statement is its own
        transaction; inside a transaction the caller opened, it is part of that one."""
        async with conn.lock:
            if conn not in self._prepared_on:
                await self._prepare(conn)
            try:
                return await self._run(conn, params)
            except errors.InvalidSqlStatementName:
                if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    raise  # inside the caller's transaction, which that error has aborted
                await self._prepare(conn)
                return await self._run(conn, params)

    async def _prepare(self, conn: psycopg.AsyncConnection[Any]) -> None:
        conn.pgconn.send_prepare(self.name, self.sql)
        _check(conn, await conn.wait(generators.execute(conn.pgconn)), pq.ExecStatus.COMMAND_OK)
        self._prepared_on.add(conn)

    async def _run(self, conn: psycopg.AsyncConnection[Any], params: Sequence[bytes | None]) -> list[Row]:
        pgconn = conn.pgconn
        pgconn.send_query_prepared(self.name, params)
        result = _check(conn, await conn.wait(generators.execute(pgconn)), pq.ExecStatus.TUPLES_OK)
        columns = range(result.nfields)
        return [tuple(result.get_value(row, col) for col in columns) for row in range(result.ntuples)]


def _check(conn: psycopg.AsyncConnection[Any], results: list[pq.abc.PGresult], expected: pq.ExecStatus) -> Any:
    """The one result of one statement, or the error it carries."""
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            raise errors.error_from_result(result, encoding=conn.info.encoding)
    if len(results) != 1 or results[0].status != expected:
        statuses = [pq.ExecStatus(r.status).name for r in results]
        raise psycopg.InterfaceError(f"unexpected results for a prepared statement: {statuses}")
    return results[0]
