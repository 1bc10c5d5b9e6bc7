from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app as create_raptor_app
from tests.fixtures.apps import add_user, asgi_client, console_app, raptor_settings, write_registry
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.servers import ThreadedServer, serve

PASSWORD = "correct horse battery staple 42"


@pytest.fixture(scope="module")
def raptors(test_databases: DatabaseFactory) -> Iterator[dict[str, ThreadedServer]]:
    """Real Raptor staging and prod servers with their own databases, for a module's tests."""
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    with (
        serve(create_raptor_app(raptor_settings(staging_db, "staging"))) as staging,
        serve(create_raptor_app(raptor_settings(prod_db, "prod"))) as prod,
    ):
        yield {"staging": staging, "prod": prod}


@pytest.fixture
def registry_file(tmp_path: Path, raptors: dict[str, ThreadedServer]) -> Path:
    return write_registry(tmp_path / "environments.toml", {env: s.url for env, s in raptors.items()})


@pytest.fixture
async def console(console_db: ProvisionedDatabase, registry_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})
    await add_user(console_db, "victor", PASSWORD, {"staging": "viewer"})
    async with asgi_client(console_app(console_db, registry_file, {"staging": "tok-s", "prod": "tok-p"})) as client:
        yield client
