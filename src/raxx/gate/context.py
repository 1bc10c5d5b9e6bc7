"""Everything a flow needs, built once per command from ``GateSettings``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from raxx.common.clock import Clock, SystemClock
from raxx.common.db import create_engine, session_factory
from raxx.common.errors import ConfigError
from raxx.common.secrets import EnvironSecrets, SecretsProvider
from raxx.gate.checks.smoke import SmokeContext
from raxx.gate.config import GateSettings
from raxx.gate.platform.base import Platform
from raxx.gate.platform.local import LocalPlatform
from raxx.gate.policy import Policy, load_policy
from raxx.gate.topology import Locator


@dataclass
class GateContext:
    settings: GateSettings
    policy: Policy
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    locator: Locator
    http: httpx.AsyncClient
    secrets: SecretsProvider
    platform: Platform | None

    def smoke(self) -> SmokeContext:
        return SmokeContext(self.policy, self.locator, self.http, self.secrets, timeout=self.settings.http_timeout)

    def require_platform(self) -> Platform:
        if self.platform is None:
            raise ConfigError("no platform to deploy with: set GATE_TOPOLOGY_FILE (local platform, under `raxx up`)")
        return self.platform


@asynccontextmanager
async def open_context(
    settings: GateSettings,
    *,
    policy: Policy | None = None,
    clock: Clock | None = None,
    platform: Platform | None = None,
    http: httpx.AsyncClient | None = None,
    secrets: SecretsProvider | None = None,
) -> AsyncIterator[GateContext]:
    """Open the ledger engine and one HTTP client; close both on exit."""
    policy = policy or load_policy(settings.policy_file)
    engine = create_engine(settings.database_url, application_name="raxx-gate", pool_size=3, max_overflow=2)
    own_http = http is None
    client = http or httpx.AsyncClient(timeout=settings.http_timeout)
    if platform is None and settings.topology_file is not None and settings.platform == "local":
        platform = LocalPlatform(settings.topology_file, policy, timeout=settings.deploy_timeout, http=client)
    try:
        yield GateContext(
            settings=settings,
            policy=policy,
            engine=engine,
            sessions=session_factory(engine),
            clock=clock or SystemClock(),
            locator=Locator(policy, settings.topology_file),
            http=client,
            secrets=secrets or EnvironSecrets(),
            platform=platform,
        )
    finally:
        if own_http:
            await client.aclose()
        await engine.dispose()
