"""Everything a flow needs, built once per command from ``GateSettings``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from raxx.common.alerts import Alerts
from raxx.common.clock import Clock, SystemClock
from raxx.common.db import UrlRefresh, create_engine, session_factory
from raxx.common.dbbudget import Pools, gate_command_pools
from raxx.common.errors import ConfigError
from raxx.common.logging import log_pools
from raxx.common.secrets import EnvironSecrets, SecretsProvider
from raxx.gate.checks.smoke import SmokeContext
from raxx.gate.config import GateSettings
from raxx.gate.platform.base import Platform
from raxx.gate.platform.config_vars import ConfigVarReader
from raxx.gate.platform.heroku import HerokuLayout, HerokuPlatform
from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.local import LocalPlatform
from raxx.gate.platform.source import GitSource
from raxx.gate.policy import Policy, load_policy
from raxx.gate.topology import Locator

log = logging.getLogger("raxx.gate")


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
    _alerts: Alerts | None = None

    @property
    def alerts(self) -> Alerts:
        """The ledger's alert outbox (``raxx.common.alerts``); the command sends what it raised
        before it exits (``commands._run``), the monitor's dispatcher whatever is left."""
        if self._alerts is None:
            self._alerts = Alerts(self.engine, source="gate")
        return self._alerts

    def smoke(self) -> SmokeContext:
        return SmokeContext(self.policy, self.locator, self.http, self.secrets, timeout=self.settings.http_timeout)

    def require_platform(self) -> Platform:
        if self.platform is None:
            raise ConfigError(
                "no platform to deploy with here: set GATE_TOPOLOGY_FILE (the local platform, under `raxx up`) "
                "or GATE_PLATFORM=heroku with GATE_HEROKU_API_TOKEN and GATE_HEROKU_APPS. Nothing was deployed; "
                "where the gate deploys from GitHub Actions only, promote and roll back there (the console's "
                "releases page records approvals either way)"
            )
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
    pools: Pools | None = None,
) -> AsyncIterator[GateContext]:
    """Read the database URLs the settings point at (Heroku config vars), open the ledger
    engine and one HTTP client; close them on exit. ``pools``: the ledger pool this process
    may open (default: a gate command's, ``raxx.common.dbbudget``)."""
    policy = policy or load_policy(settings.policy_file)
    pools = pools or gate_command_pools(settings.budget)
    log_pools(log, pools)
    settings, refresh = await read_database_urls(settings)
    engine = create_engine(
        settings.ledger_url, application_name="raxx-gate", pool_size=pools["pool"], refresh_url=refresh
    )
    own_http = http is None
    client = http or httpx.AsyncClient(timeout=settings.http_timeout)
    own_platform = platform is None
    if platform is None:
        platform = build_platform(settings, policy, client)
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
        if own_platform and isinstance(platform, HerokuPlatform):
            await platform.aclose()
        if own_http:
            await client.aclose()
        await engine.dispose()


async def read_database_urls(settings: GateSettings) -> tuple[GateSettings, UrlRefresh | None]:
    """``settings`` with every ``*_FROM`` URL read from its Heroku config var now, and how the
    ledger engine reads its URL again after a failed connection (None: a URL given as is)."""
    refs = settings.url_refs()
    if not refs:
        return settings, None
    heroku_token(settings)
    reader = ConfigVarReader(lambda: heroku_client(settings))
    values = {name: await reader.read(ref) for name, ref in refs.items()}
    ledger = refs.get("database_url")
    return settings.model_copy(update=values), reader.refresher(ledger) if ledger else None


def heroku_client(settings: GateSettings) -> HerokuClient:
    return HerokuClient(heroku_token(settings), base_url=settings.heroku_api_url, timeout_s=settings.heroku_timeout_s)


def heroku_token(settings: GateSettings) -> str:
    if settings.heroku_api_token is None or not settings.heroku_api_token.get_secret_value():
        why = "GATE_PLATFORM=heroku" if settings.platform == "heroku" else "a *_FROM setting"
        raise ConfigError(f"GATE_HEROKU_API_TOKEN (or HEROKU_API_KEY) is required: {why} reads the Platform API")
    return settings.heroku_api_token.get_secret_value()


def build_platform(settings: GateSettings, policy: Policy, http: httpx.AsyncClient) -> Platform | None:
    """The platform ``GATE_PLATFORM`` names (None when the local one has no topology to drive)."""
    if settings.platform == "heroku":
        return heroku_platform(settings)
    if settings.topology_file is not None:
        return LocalPlatform(settings.topology_file, policy, timeout=settings.deploy_timeout, http=http)
    return None


def heroku_platform(settings: GateSettings) -> HerokuPlatform:
    """Refuses, by name, a Heroku configuration that could not deploy."""
    heroku_token(settings)
    if not settings.heroku_apps:
        raise ConfigError('GATE_PLATFORM=heroku needs GATE_HEROKU_APPS, e.g. {"raptor-staging": "acme-raptor-staging"}')
    client = heroku_client(settings)
    layout = HerokuLayout(
        apps=dict(settings.heroku_apps),
        promote_from=dict(settings.heroku_promote_from),
        builds=frozenset(settings.heroku_build_services),
    )
    return HerokuPlatform(
        client,
        layout,
        source=GitSource(settings.source_dir),
        timeout=settings.deploy_timeout,
        poll_s=settings.heroku_poll_s,
    )
