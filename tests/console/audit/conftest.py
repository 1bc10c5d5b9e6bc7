"""Fixtures of the audit-trail tests: a fresh console database, a trail on its runtime role, a fake Raptor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.db import create_engine
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.checkpoint import CheckpointSigner
from raxx.console.audit.keys import load_signing_key
from raxx.console.audit.service import AuditTrail
from tests.console.audit.helpers import SIGNING_KEY, FakeRaptor
from tests.fixtures.database import DatabaseFactory


@pytest.fixture
async def runtime_engine(console_db: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    """The console's own view of its database: the runtime role (INSERT and SELECT on audit tables)."""
    engine = create_engine(console_db.runtime_url, application_name="test-audit", pool_size=4)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def trail(runtime_engine: AsyncEngine) -> AuditTrail:
    return AuditTrail(runtime_engine)


@pytest.fixture
def superuser_url(test_databases: DatabaseFactory, console_db: ProvisionedDatabase) -> str:
    return test_databases.superuser_url(console_db.database)


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(load_signing_key(SIGNING_KEY, source="test"))


@pytest.fixture
def fake_raptor() -> Iterator[FakeRaptor]:
    raptor = FakeRaptor().start()
    try:
        yield raptor
    finally:
        raptor.stop()
