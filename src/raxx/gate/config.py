"""The gate's settings: ``GATE_*``. One typed class, validated when a command starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.dbbudget import BudgetSettings
from raxx.common.settings import load_budget
from raxx.gate.platform.heroku import DEFAULT_BUILDS, DEFAULT_PROMOTE_FROM


class GateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATE_", extra="ignore", populate_by_name=True)

    database_url: str = Field(description="runtime PostgreSQL URL of the ledger (required)")
    migration_database_url: str | None = Field(
        default=None, description="owner role URL for the ledger's migrations; defaults to database_url"
    )
    policy_file: Path = Field(default=Path("deploy/policy.toml"), description="the deploy policy, in the repo")
    topology_file: Path | None = Field(
        default=None, description="<data_dir>/run/topology.json written by `raxx up`; deployment URLs and data dir"
    )
    audit_database_url: str | None = Field(
        default=None, description="read-only URL of the console database (audit trail evidence for retire-check)"
    )
    monitor_interval: float = Field(default=30.0, gt=0, description="seconds between two health polls")
    http_timeout: float = Field(default=5.0, gt=0, description="seconds for one probe or smoke request")
    deploy_timeout: float = Field(default=180.0, gt=0, description="seconds to wait for a platform deploy")
    platform: Literal["local", "heroku"] = Field(
        default="local", description="platform adapter: local (the processes `raxx up` runs) or heroku"
    )
    # The Heroku platform (GATE_PLATFORM=heroku).
    heroku_api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GATE_HEROKU_API_TOKEN", "HEROKU_API_KEY"),
        description="a Heroku OAuth authorization for the Platform API (not a personal key)",
    )
    heroku_api_url: str = "https://api.heroku.com"
    heroku_apps: dict[str, str] = Field(
        default_factory=dict, description='service -> Heroku app, JSON: {"raptor-staging": "acme-raptor-staging", ...}'
    )
    heroku_promote_from: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMOTE_FROM), description="service -> the service it is promoted from"
    )
    heroku_build_services: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BUILDS), description="services built from source (the rest are promoted)"
    )
    heroku_poll_s: float = Field(default=3.0, gt=0, description="seconds between two polls of a build or release")
    heroku_timeout_s: float = Field(default=15.0, gt=0, le=120, description="seconds for one Platform API call")
    source_dir: Path = Field(default=Path("."), description="the git checkout Heroku builds are packed from")
    actor: str | None = Field(default=None, description="who runs the command; defaults to GITHUB_ACTOR or USER")
    log_level: str = "INFO"
    #: The connection budget (``RAXX_*``): the ledger's pool for a command or the monitor.
    budget: BudgetSettings = Field(default_factory=load_budget)

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    def resolved_actor(self) -> str | None:
        """The person (or CI actor) on whose behalf a command runs."""
        return self.actor or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or None
