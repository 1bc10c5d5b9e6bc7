"""Per-process state of the console, built by the lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from raxx.common.alerts import Alerts
from raxx.common.environments import EnvironmentRegistry
from raxx.console.apitoken.service import ApiTokenVerifier
from raxx.console.audit.checkpoint import CheckpointKeys
from raxx.console.audit.service import AuditTrail
from raxx.console.auth.oidc import OidcClient
from raxx.console.auth.service import LoginPolicy
from raxx.console.config import ConsoleSettings
from raxx.console.raptor.client import RaptorClients


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    registry: EnvironmentRegistry
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clients: RaptorClients
    templates: Jinja2Templates
    login_policy: LoginPolicy
    started_at: datetime
    #: Where every action and event is recorded; console actions reach it through ``actions.perform``.
    audit: AuditTrail
    api_tokens: ApiTokenVerifier
    #: Alerts that must reach a person (``raxx.common.alerts``): ``await state.alerts.raise_alert(kind, ...)``
    #: records in the console database and returns at once; the lifespan's dispatcher sends.
    alerts: Alerts
    extras: dict[str, Any] = field(default_factory=dict)
    #: Checkpoint keys: the signer, and the public keys the console publishes.
    audit_keys: CheckpointKeys = field(default_factory=CheckpointKeys)
    #: The identity provider's client, when single sign-on is configured (``CONSOLE_OIDC_*``).
    oidc: OidcClient | None = None
