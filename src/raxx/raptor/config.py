"""Raptor's settings: ``RAPTOR_*``. Its environment comes from here and nowhere else."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

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

    #: Which venue executes orders. Only the built-in paper broker exists so far.
    broker: Literal["paper"] = "paper"
    #: Seconds a verified token stays trusted in this process; a revocation takes effect
    #: within this delay. 0 checks the database on every request.
    token_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    #: Period of the background pass that lets the broker work (fill crossing limit
    #: orders, expire day orders) and syncs open orders from it. 0 turns it off.
    maintenance_interval_seconds: float = Field(default=1.0, ge=0)
    #: How long an order recorded without the broker's answer waits before the sync pass
    #: asks the broker about it (and places it if the broker never got it).
    pending_grace_seconds: float = Field(default=5.0, ge=0)

    # The built-in paper broker (RAPTOR_PAPER_*).
    paper_seed: int = Field(default=20261126, description="seed of the deterministic price paths")
    paper_starting_cash: Decimal = Field(default=Decimal("100000"), gt=0)
    paper_tick_seconds: float = Field(default=1.0, gt=0, description="one price step every this many seconds")
    paper_volatility: float = Field(default=0.02, ge=0, le=0.5, description="relative amplitude of the price path")
    paper_liquidity: Decimal | None = Field(
        default=None, gt=0, description="most quantity one fill may take (None: fill whole); makes partial fills"
    )
    paper_pool_size: int = 5

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise ValueError("must be an environment name such as staging or prod")
        return value

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url
