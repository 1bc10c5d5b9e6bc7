from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.token.service import issue_token_sync
from tests.fixtures.apps import add_user, asgi_client, console_app, raptor_settings, write_registry
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.servers import ThreadedServer, serve

PASSWORD = "correct horse battery staple 42"
#: No background broker pass (tests drive prices by hand) and revocations seen at once.
QUIET = {"maintenance_interval_seconds": 0, "token_cache_seconds": 0}


@dataclass
class RunningRaptor:
    """A real Raptor over HTTP, its database, and the token the console uses there."""

    environment: str
    server: ThreadedServer
    db: ProvisionedDatabase
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    def direct(self) -> httpx.Client:
        """A client straight to this Raptor (to see what the console did, or did not do)."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


@pytest.fixture(scope="module")
def raptors(test_databases: DatabaseFactory) -> Iterator[dict[str, RunningRaptor]]:
    """Real Raptor staging and prod servers with their own databases and tokens, for a module's tests."""
    dbs = {env: test_databases.fresh("raptor") for env in ("staging", "prod")}
    tokens = {
        env: issue_token_sync(db.runtime_url, environment=env, scopes=["read", "trade", "admin"], name="console")
        for env, db in dbs.items()
    }
    with (
        serve(create_raptor_app(raptor_settings(dbs["staging"], "staging", **QUIET))) as staging,
        serve(create_raptor_app(raptor_settings(dbs["prod"], "prod", **QUIET))) as prod,
    ):
        yield {
            "staging": RunningRaptor("staging", staging, dbs["staging"], tokens["staging"]),
            "prod": RunningRaptor("prod", prod, dbs["prod"], tokens["prod"]),
        }


@pytest.fixture
def registry_file(tmp_path: Path, raptors: dict[str, RunningRaptor]) -> Path:
    return write_registry(tmp_path / "environments.toml", {env: r.url for env, r in raptors.items()})


def raptor_tokens(raptors: dict[str, RunningRaptor]) -> dict[str, str]:
    return {env: r.token for env, r in raptors.items()}


async def add_team(db: ProvisionedDatabase) -> None:
    """alice: admin everywhere; olga: operator on staging, viewer on prod; victor: viewer on staging only."""
    await add_user(db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    await add_user(db, "olga", PASSWORD, {"staging": "operator", "prod": "viewer"})
    await add_user(db, "victor", PASSWORD, {"staging": "viewer"})


@pytest.fixture
def console_asgi(console_db: ProvisionedDatabase, registry_file: Path, raptors: dict[str, RunningRaptor]) -> FastAPI:
    return console_app(console_db, registry_file, raptor_tokens(raptors))


@pytest.fixture
async def console(console_db: ProvisionedDatabase, console_asgi: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    await add_team(console_db)
    async with asgi_client(console_asgi) as client:
        yield client
