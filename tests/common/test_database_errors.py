"""A database that cannot serve a request is a 503 with ``Retry-After``, never a 500; a bug in
a statement stays a 500. Each error here comes from a real PostgreSQL (or a real refused port)."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from raxx.common.asgi import install_json_error_handlers
from raxx.common.db import create_engine, libpq_url
from tests.fixtures.database import DatabaseFactory

NOTHING_LISTENS = "postgresql://postgres@127.0.0.1:1/postgres"


def _app(admin_url: str) -> FastAPI:
    app = FastAPI()
    install_json_error_handlers(app)

    @app.get("/refused")
    async def refused() -> None:
        await psycopg.AsyncConnection.connect(NOTHING_LISTENS, connect_timeout=2)

    @app.get("/refused-through-sqlalchemy")
    async def refused_through_sqlalchemy() -> None:
        engine = create_engine(NOTHING_LISTENS, application_name="test", pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    @app.get("/terminated")
    async def terminated() -> None:
        # The server ends this backend mid-session, as a restart or a failover does (57P01).
        async with await psycopg.AsyncConnection.connect(libpq_url(admin_url), autocommit=True) as conn:
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    @app.get("/statement-bug")
    async def statement_bug() -> None:
        async with await psycopg.AsyncConnection.connect(libpq_url(admin_url), autocommit=True) as conn:
            await conn.execute("SELECT 1/0")

    # Text a field's check should have refused, reaching a statement unchecked.
    @app.get("/nul-in-text")
    async def nul_in_text() -> None:
        async with await psycopg.AsyncConnection.connect(libpq_url(admin_url), autocommit=True) as conn:
            await conn.execute("SELECT %s::text", ["a\x00b"])

    @app.get("/nul-in-jsonb")
    async def nul_in_jsonb() -> None:
        engine = create_engine(admin_url, application_name="test", pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT CAST(:body AS jsonb)"), {"body": '{"reason": "a\\u0000b"}'})
        finally:
            await engine.dispose()

    return app


@pytest.fixture
async def client(test_databases: DatabaseFactory) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(test_databases.admin_url), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/refused", "/refused-through-sqlalchemy", "/terminated"])
async def test_a_database_that_is_not_there_is_a_503_with_retry_after(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "database_unavailable"
    assert response.headers["retry-after"] == "2"
    assert "postgres" not in response.text  # never the server's text (it names roles and hosts)


async def test_an_error_of_the_statement_itself_stays_a_bug(client: httpx.AsyncClient) -> None:
    response = await client.get("/statement-bug")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"


@pytest.mark.parametrize("path", ["/nul-in-text", "/nul-in-jsonb"])
async def test_text_the_database_cannot_store_is_the_422_of_bad_input(client: httpx.AsyncClient, path: str) -> None:
    """The net behind the fields' checks (``raxx.common.storable``): psycopg's NUL refusal and
    PostgreSQL's 22P05 are bad input, answered in the one shape; 1/0 above stays a 500."""
    response = await client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert "NUL" in response.json()["detail"][0]["message"]
