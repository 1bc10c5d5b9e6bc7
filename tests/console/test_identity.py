"""Identity before credentials: a backend that names another environment gets nothing."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from fastapi import FastAPI, Request

from raxx.common.provision import ProvisionedDatabase
from raxx.console.raptor_client import BackendMisconfigured, BackendUnavailable, CallContext
from tests.console.conftest import PASSWORD
from tests.fixtures.apps import add_user, asgi_client, console_app, login, write_registry
from tests.fixtures.servers import ThreadedServer, serve


def impostor(claims: str, seen_auth: list[str]) -> FastAPI:
    """A fake backend that says it is ``claims`` and records every Authorization header."""
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next):  # type: ignore[no-untyped-def]
        if "authorization" in request.headers:
            seen_auth.append(request.headers["authorization"])
        return await call_next(request)

    @app.get("/v1/identity")
    async def identity() -> dict[str, str]:
        return {"environment": claims, "release": "r1", "database": "x:1", "started_at": "2026-11-26T00:00:00Z"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        return {"ready": True, "environment": claims, "release": "r1", "reasons": [], "checks": []}

    @app.get("/v1/orders")
    async def orders() -> list[object]:
        return []

    return app


@pytest.fixture
def prod_impostor() -> Iterator[tuple[ThreadedServer, list[str]]]:
    seen: list[str] = []
    with serve(impostor("prod", seen)) as server:
        yield server, seen


async def test_staging_url_pointing_at_prod_is_refused_and_shown_misconfigured(
    console_db: ProvisionedDatabase,
    tmp_path: Path,
    prod_impostor: tuple[ThreadedServer, list[str]],
    raptors: dict[str, ThreadedServer],
) -> None:
    server, seen_auth = prod_impostor
    registry = write_registry(tmp_path / "envs.toml", {"staging": server.url, "prod": raptors["prod"].url})
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    app = console_app(console_db, registry, {"staging": "staging-token", "prod": "prod-token"})
    async with asgi_client(app) as client:
        await login(client, "alice", PASSWORD)
        page = await client.get("/staging/health")
        assert 'data-identity="misconfigured"' in page.text
        assert "MISCONFIGURED" in page.text
        staging_client = app.state.console.clients["staging"]
        with pytest.raises(BackendMisconfigured):
            await staging_client.call("GET", "/v1/orders", CallContext(request_id="r1", actor="alice"))
        prod_page = await client.get("/prod/")
        assert 'data-backend-env="prod"' in prod_page.text  # the other environment is unaffected
    assert seen_auth == []  # the staging token never reached the impostor


async def test_unreachable_backend_still_renders_with_banner(
    console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, ThreadedServer]
) -> None:
    registry = write_registry(tmp_path / "envs.toml", {"staging": "http://127.0.0.1:9", "prod": raptors["prod"].url})
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    app = console_app(console_db, registry, {"staging": "s", "prod": "p"})
    async with asgi_client(app) as client:
        await login(client, "alice", PASSWORD)
        page = await client.get("/staging/health")
        assert page.status_code == 200
        assert 'data-env="staging"' in page.text
        assert 'data-identity="unreachable"' in page.text
        assert 'data-ready="error"' in page.text
        with pytest.raises(BackendUnavailable):
            await app.state.console.clients["staging"].call("GET", "/v1/orders", CallContext("r2", "alice"))
        assert 'data-backend-env="prod"' in (await client.get("/prod/")).text


async def test_a_backend_whose_certificate_does_not_verify_gets_nothing(
    console_db: ProvisionedDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https backend with a certificate for another host: a clear refusal that names TLS,
    the health page says unreachable, and nothing (in clear or otherwise) reaches it."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the authority is trusted: only the host name is wrong
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("raptor-prod.example").configure_cert(context)
    received: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            received.append(await reader.read(65536))
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0, ssl=context)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
    registry = write_registry(tmp_path / "envs.toml", {"staging": url, "prod": url})
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    app = console_app(console_db, registry, {"staging": "staging-token", "prod": "prod-token"})
    try:
        async with asgi_client(app) as client:
            await login(client, "alice", PASSWORD)
            page = await client.get("/staging/health")
            assert 'data-identity="unreachable"' in page.text
            with pytest.raises(BackendUnavailable, match=r"TLS: the certificate of localhost:[0-9]+ was refused"):
                await app.state.console.clients["staging"].call("GET", "/v1/orders", CallContext("r3", "alice"))
    finally:
        server.close()
    assert all(b"staging-token" not in data and b"HTTP/1.1" not in data for data in received)
