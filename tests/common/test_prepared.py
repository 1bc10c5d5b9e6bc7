"""``raxx.common.prepared``: rows as the server's text, errors as psycopg raises them, and a
connection left usable whatever happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from raxx.common.db import libpq_url
from raxx.common.prepared import PreparedQuery
from tests.fixtures.database import DatabaseFactory

ECHO = PreparedQuery("raxx_test_echo", "SELECT $1::int + 1, NULL::text, $2::text FROM generate_series(1, $1::int)")
DIVIDE = PreparedQuery("raxx_test_divide", "SELECT 1 / $1::int")


@pytest.fixture
async def conn(test_databases: DatabaseFactory) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(libpq_url(test_databases.admin_url), autocommit=True) as c:
        yield c


async def _prepared_names(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'raxx_test_%' ORDER BY 1")
    return [row[0] for row in await cur.fetchall()]


async def test_rows_come_back_as_the_servers_text_with_null_as_none(conn: psycopg.AsyncConnection[Any]) -> None:
    assert await ECHO.fetch(conn, [b"2", 'é "q"'.encode()]) == [
        (b"3", None, 'é "q"'.encode()),
        (b"3", None, 'é "q"'.encode()),
    ]
    assert await ECHO.fetch(conn, [b"0", None]) == []


async def test_a_statement_is_prepared_once_per_connection(
    conn: psycopg.AsyncConnection[Any], test_databases: DatabaseFactory
) -> None:
    for n in range(3):
        await ECHO.fetch(conn, [str(n).encode(), b"x"])
    assert await _prepared_names(conn) == ["raxx_test_echo"]
    url = libpq_url(test_databases.admin_url)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other:
        assert await ECHO.fetch(other, [b"1", b"y"]) == [(b"2", None, b"y")]  # prepared there too
        assert await _prepared_names(other) == ["raxx_test_echo"]


async def test_a_failed_statement_raises_the_error_of_its_sqlstate_and_the_connection_goes_on(
    conn: psycopg.AsyncConnection[Any],
) -> None:
    with pytest.raises(errors.DivisionByZero):
        await DIVIDE.fetch(conn, [b"0"])
    with pytest.raises(errors.InvalidTextRepresentation):
        await DIVIDE.fetch(conn, [b"not a number"])
    assert await DIVIDE.fetch(conn, [b"1"]) == [(b"1",)]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


async def test_a_statement_the_server_forgot_is_prepared_again(conn: psycopg.AsyncConnection[Any]) -> None:
    assert await DIVIDE.fetch(conn, [b"1"]) == [(b"1",)]
    await conn.execute("DEALLOCATE ALL")
    assert await DIVIDE.fetch(conn, [b"1"]) == [(b"1",)]
    assert await _prepared_names(conn) == ["raxx_test_divide"]


async def test_inside_a_transaction_a_forgotten_statement_is_the_callers_error(
    test_databases: DatabaseFactory,
) -> None:
    """Preparing again there would run in a transaction that error has already aborted."""
    async with await psycopg.AsyncConnection.connect(libpq_url(test_databases.admin_url)) as conn:
        assert await DIVIDE.fetch(conn, [b"1"]) == [(b"1",)]
        await conn.execute("DEALLOCATE ALL")
        with pytest.raises(errors.InvalidSqlStatementName):
            await DIVIDE.fetch(conn, [b"1"])
        await conn.rollback()
        assert await DIVIDE.fetch(conn, [b"1"]) == [(b"1",)]


async def test_a_caller_that_gives_up_leaves_no_query_running(conn: psycopg.AsyncConnection[Any]) -> None:
    """Cancelled while the server works: the query is cancelled there too (psycopg's ``wait``),
    so the connection is idle again and the next statement runs."""
    sleep = PreparedQuery("raxx_test_sleep", "SELECT pg_sleep($1::float8)")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sleep.fetch(conn, [b"30"]), timeout=0.3)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert await DIVIDE.fetch(conn, [b"2"]) == [(b"0",)]


async def test_parameters_must_match_the_statement(conn: psycopg.AsyncConnection[Any]) -> None:
    with pytest.raises(errors.ProtocolViolation):
        await DIVIDE.fetch(conn, [b"1", b"2"])
    assert await DIVIDE.fetch(conn, [b"4"]) == [(b"0",)]
