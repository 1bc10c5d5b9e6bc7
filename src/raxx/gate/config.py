"""The gate's settings: ``GATE_*``. One typed class, validated when a command starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.actors import ACTOR_LENGTH, clean_actor, name_problem
from raxx.common.dbbudget import BudgetSettings
from raxx.common.errors import ConfigError
from raxx.common.settings import load_budget
from raxx.common.storable import one_line_variable
from raxx.gate.platform.config_vars import ConfigVarRef
from raxx.gate.platform.heroku import DEFAULT_BUILDS, DEFAULT_PROMOTE_FROM


class GateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATE_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, description="runtime PostgreSQL URL of the ledger (this or database_url_from is required)"
    )
    database_url_from: str | None = Field(
        default=None,
        description="the ledger URL is this Heroku config var, read at run time: APP:VAR, "
        "e.g. acme-console:GATE_DATABASE_URL (needs GATE_HEROKU_API_TOKEN)",
    )
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
    audit_database_url_from: str | None = Field(
        default=None, description="the audit database URL is this Heroku config var: APP:VAR (read at run time)"
    )
    monitor_interval: float = Field(default=30.0, gt=0, description="seconds between two health polls")
    monitor_start_grace: float = Field(
        default=60.0, ge=0, description="seconds after a start during which a failed probe is 'starting'"
    )
    monitor_summary_minutes: float = Field(
        default=15.0, gt=0, description="the monitor logs a summary this often (and otherwise only changes)"
    )
    alert_health_failures: int = Field(
        default=3, ge=1, description="consecutive failed health samples before the health.failing alert"
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="the monitor serves /metrics on this port (unset: it does not)"
    )
    metrics_host: str = Field(default="127.0.0.1", description="the address the monitor's /metrics listens on")
    metrics_token: SecretStr | None = Field(default=None, description="the scrape token for the monitor's /metrics")
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
    heroku_api_url: str = Field(
        default="https://api.heroku.com", description="the Platform API (tests point it at a local fake)"
    )
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
    log_level: str = Field(default="INFO", description="the log level (DEBUG, INFO, WARNING, ERROR)")
    #: The connection budget (``RAXX_*``): the ledger's pool for a command or the monitor.
    budget: BudgetSettings = Field(default_factory=load_budget)

    @model_validator(mode="after")
    def _one_url_each(self) -> GateSettings:
        for name in ("database_url", "audit_database_url"):
            if getattr(self, name) and getattr(self, f"{name}_from"):
                raise ConfigError(f"set GATE_{name.upper()} or GATE_{name.upper()}_FROM, not both")
        if not self.database_url and not self.database_url_from:
            raise ConfigError("GATE_DATABASE_URL (or GATE_DATABASE_URL_FROM) is required but not set")
        self.url_refs()  # a malformed APP:VAR is refused now, by name
        return self

    def url_refs(self) -> dict[str, ConfigVarRef]:
        """The URL settings to read from Heroku config vars at run time, by field name."""
        return {
            name: ConfigVarRef.parse(text, setting=f"GATE_{name.upper()}_FROM")
            for name in ("database_url", "audit_database_url")
            if (text := getattr(self, f"{name}_from"))
        }

    @property
    def ledger_url(self) -> str:
        """The ledger's URL; with ``database_url_from`` only once ``open_context`` has read it."""
        if not self.database_url:
            raise ConfigError("the ledger URL has not been read from GATE_DATABASE_URL_FROM yet")
        return self.database_url

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.ledger_url

    def resolved_actor(self) -> str | None:
        """The person (or CI actor) on whose behalf a command runs."""
        sources = {
            "GATE_ACTOR": self.actor,
            "GITHUB_ACTOR": os.environ.get("GITHUB_ACTOR"),
            "USER": os.environ.get("USER"),
        }
        for name, value in sources.items():
            if value and (acting := one_line_variable(name, value, max_length=ACTOR_LENGTH)):
                if problem := name_problem(acting):
                    raise ConfigError(f"{name} {problem}")
                return clean_actor(acting)
        return None
