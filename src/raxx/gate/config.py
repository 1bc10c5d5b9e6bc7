"""The gate's settings: ``GATE_*``. One typed class, validated when a command starts."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATE_", extra="ignore")

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
    platform: str = Field(default="local", description="platform adapter: local (the processes `raxx up` runs)")
    actor: str | None = Field(default=None, description="who runs the command; defaults to GITHUB_ACTOR or USER")
    log_level: str = "INFO"

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    def resolved_actor(self) -> str | None:
        """The person (or CI actor) on whose behalf a command runs."""
        return self.actor or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or None
