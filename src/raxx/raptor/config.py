"""Raptor's settings: ``RAPTOR_*``. Its environment comes from here and nowhere else."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.environments import ENV_NAME_RE
from raxx.common.release import current_release


class RaptorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPTOR_", extra="ignore")

    environment: str = Field(description="which deployment this is: staging or prod (required)")
    database_url: str = Field(description="runtime PostgreSQL URL")
    migration_database_url: str | None = Field(
        default=None, description="owner role URL for migrations; defaults to database_url"
    )
    release: str = Field(default_factory=current_release)
    log_level: str = "INFO"
    development: bool = False
    db_pool_size: int = 10

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise ValueError("must be an environment name such as staging or prod")
        return value

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url
