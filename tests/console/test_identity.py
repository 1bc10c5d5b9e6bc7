"""Identity before credentials: a backend that names another environment gets nothing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from fastapi import FastAPI, Request, Response

from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit import repository as audit_repository
from raxx.console.audit.repository import EventRecord
from raxx.console.raptor.client import CallContext
from raxx.console.raptor.errors import BackendMisconfigured, BackendUnavailable
from tests.console.conftest import PASSWORD, RunningRaptor
from tests.console.test_api import new_token
from tests.fixtures.apps import add_user, asgi_client, console_app, login, write_registry
from tests.fixtures.raptor import order_body
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


@dataclass
class Gateway:
    """An HTTP gateway (as nginx or a platform router is) in front of one Raptor, re-pointable
    at another without dropping anything; it records which upstream got which credential."""

    upstream: str
    forwarded: list[tuple[str, str, str]] = field(default_factory=list)  # (upstream, method path, credential)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
        async def forward(path: str, request: Request) -> Response:
            upstream = self.upstream
            credential = request.headers.get("authorization", "")
            self.forwarded.append((upstream, f"{request.method} /{path}", credential))
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with httpx.AsyncClient(base_url=upstream, timeout=5) as http:
                answer = await http.request(
                    request.method,
                    "/" + path,
                    params=request.query_params,
                    headers=headers,
                    content=await request.body(),
                )
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        return app

    def credentialed(self, upstream: str, *, after: int = 0) -> list[tuple[str, str, str]]:
        return [f for f in self.forwarded[after:] if f[0] == upstream and f[2]]


async def audit_mismatches(app: FastAPI) -> list[EventRecord]:
    async with app.state.console.engine.connect() as conn:
        events = [e async for e in audit_repository.stream_events(conn, audit_repository.EventFilter())]
    return [e for e in events if e.action == "identity.mismatch"]


async def test_a_backend_swapped_behind_a_gateway_gets_at_most_the_one_revealing_request(
    console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]
) -> None:
    """Staging's URL is a gateway; it is re-pointed at Raptor prod. The first credentialed call
    through either door reveals the swap (prod answers wrong_environment); from then on the
    console sends nothing with credentials, says MISCONFIGURED and has audited the mismatch."""
    gateway = Gateway(raptors["staging"].url)
    prod_raptor: Any = raptors["prod"].server.server.config.app  # the Raptor app that server runs
    refused_at_prod = prod_raptor.state.raptor.tokens.wrong_environment
    with serve(gateway.app()) as front:
        registry = write_registry(tmp_path / "envs.toml", {"staging": front.url, "prod": raptors["prod"].url})
        await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
        app = console_app(console_db, registry, {e: r.token for e, r in raptors.items()})
        token = await new_token(console_db, "alice")
        api = {"Authorization": f"Bearer {token}"}
        async with asgi_client(app) as client:
            await login(client, "alice", PASSWORD)
            assert (await client.get("/api/staging/orders", headers=api)).status_code == 200  # the fast path
            assert app.state.console.clients["staging"].verified_fresh()
            before, refused_before = len(gateway.forwarded), refused_at_prod["staging"]
            gateway.upstream = raptors["prod"].url  # the swap: nothing is dropped, nothing changes address
            answers = []
            for _ in range(4):
                answers.append((await client.get("/api/staging/orders", headers=api)).status_code)
                placed = await client.post(
                    "/api/staging/orders", json=order_body(client_order_id=uuid.uuid4().hex), headers=api
                )
                answers.append(placed.status_code)
                answers.append((await client.get("/staging/orders")).status_code)
            overview = await client.get("/staging/")
            prod_page = await client.get("/prod/")
            mismatched = await audit_mismatches(app)
    reached_prod = gateway.credentialed(raptors["prod"].url, after=before)
    assert len(reached_prod) == 1, reached_prod  # the one that revealed the swap, no more
    assert refused_at_prod["staging"] - refused_before == 1  # counted at prod too
    assert set(answers) == {503}, answers  # backend_misconfigured, through every door
    assert 'data-identity="misconfigured"' in overview.text
    assert "MISCONFIGURED" in overview.text
    assert 'data-backend-env="prod"' in prod_page.text  # the other environment is unaffected
    assert mismatched
    assert all(e.environment == "staging" for e in mismatched)


async def test_the_overview_states_the_age_of_identity_and_asks_again_when_it_is_old(
    console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]
) -> None:
    """The overview asks Raptor nothing else: it must not vouch for a backend from a cache
    older than ``identity_recheck_s``, even within the 30 s TTL and on the same connection."""
    claims = {"environment": "staging"}
    backend = FastAPI()

    @backend.get("/v1/identity")
    async def identity() -> dict[str, str]:
        return {**claims, "release": "r1", "database": "x:1", "started_at": "2026-11-26T00:00:00Z"}

    with serve(backend) as server:
        registry = write_registry(tmp_path / "envs.toml", {"staging": server.url, "prod": raptors["prod"].url})
        await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
        app = console_app(console_db, registry, {"staging": "s", "prod": "p"}, identity_recheck_s=3.0)
        async with asgi_client(app) as client:
            await login(client, "alice", PASSWORD)
            first = await client.get("/staging/")
            claims["environment"] = "prod"  # the same server, the same connection, another story
            cached = await client.get("/staging/")
            await asyncio.sleep(3.2)
            later = await client.get("/staging/")
            api_token = await new_token(console_db, "alice")
            api = (await client.get("/api/staging/identity", headers={"Authorization": f"Bearer {api_token}"})).json()
    assert 'data-field="identity-state">OK' in first.text
    # "just now" is under a second; a loaded machine's page render may take a second or two
    assert re.search(r"<dd data-identity-age>checked (just now|[12] s ago)</dd>", first.text)
    # younger than 3 s (wide enough for a loaded machine's page render): still the last answer
    assert 'data-field="identity-state">OK' in cached.text
    assert 'data-field="identity-state">MISCONFIGURED' in later.text
    assert 'data-identity="misconfigured"' in later.text
    assert re.search(r"<span data-identity-age>checked (just now|[12] s ago)</span>", later.text)  # the banner too
    assert api["state"] == "misconfigured"
    assert api["age_s"] is not None
    assert api["age_s"] < 3.0
