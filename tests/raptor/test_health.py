from __future__ import annotations

import psycopg

from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.apps import raptor_client
from tests.fixtures.database import DatabaseFactory


async def test_healthz_serves(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_ready_when_database_at_head(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db) as client:
        response = await client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ready"] is True
    assert body["reasons"] == []
    assert {c["name"] for c in body["checks"]} >= {"database", "migrations"}


async def test_readyz_503_when_migrations_behind(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'r_old_revision'")
    async with raptor_client(raptor_db) as client:
        response = await client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["ready"] is False
    assert any(reason.startswith("migrations:") for reason in body["reasons"])


async def test_readyz_503_when_database_unreachable(raptor_db: ProvisionedDatabase) -> None:
    bad = ProvisionedDatabase(
        database=raptor_db.database,
        owner_url=raptor_db.owner_url,
        runtime_url="postgresql://nobody:wrong@127.0.0.1:1/none",
    )
    async with raptor_client(bad) as client:
        response = await client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert any(reason.startswith("database:") for reason in body["reasons"])


async def test_identity_names_environment_release_and_database(test_databases: DatabaseFactory) -> None:
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    async with raptor_client(staging_db, "staging") as staging, raptor_client(prod_db, "prod") as prod:
        s = (await staging.get("/v1/identity")).json()
        p = (await prod.get("/v1/identity")).json()
    assert s["environment"] == "staging"
    assert p["environment"] == "prod"
    assert s["release"] == "test-release"
    assert s["database"] != p["database"]
    assert s["database"].startswith(staging_db.database + ":")
    assert s["started_at"]


async def test_request_id_is_echoed_or_minted(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db) as client:
        echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        minted = await client.get("/healthz", headers={"X-Request-ID": "bad id\r\nInjected: 1"})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert minted.headers["x-request-id"] != "bad id\r\nInjected: 1"
    assert len(minted.headers["x-request-id"]) == 32


async def test_unknown_route_uses_the_one_error_shape(raptor_db: ProvisionedDatabase) -> None:
    async with raptor_client(raptor_db) as client:
        response = await client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
