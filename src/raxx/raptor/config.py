"""Raptor's settings: ``RAPTOR_*``. Its environment comes from here and nowhere else."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.dbbudget import BudgetSettings
from raxx.common.environments import ENV_NAME_RE
from raxx.common.errors import ConfigError
from raxx.common.release import current_release
from raxx.common.router import ROUTER_TIMEOUT_S
from raxx.common.settings import load_budget

ALPACA_PAPER_URL = "https://paper-api.alpaca.markets"
ALPACA_LIVE_HOST = "api.alpaca.markets"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class RaptorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPTOR_", extra="ignore")

    environment: str = Field(description="which deployment this is: staging or prod (required)")
    database_url: str = Field(description="runtime PostgreSQL URL")
    migration_database_url: str | None = Field(
        default=None, description="owner role URL for migrations; defaults to database_url"
    )
    release: str = Field(
        default_factory=current_release,
        description="the release it runs, as /v1/identity and the logs name it (default: RAXX_RELEASE, "
        "else Heroku's HEROKU_SLUG_COMMIT, else git)",
    )
    log_level: str = Field(default="INFO", description="the log level (DEBUG, INFO, WARNING, ERROR)")
    development: bool = Field(
        default=False, description="allow a .env secrets file (RAXX_DOTENV_FILE): raxx up and development only"
    )
    #: The connection budget (``RAXX_DB_PLAN``, ``RAXX_WEB_DYNOS``, ``WEB_CONCURRENCY``, ...):
    #: every pool this process opens is sized from it (``raxx.raptor.database``).
    budget: BudgetSettings = Field(default_factory=load_budget)
    #: Bearer token Prometheus presents to ``/metrics``; unset, ``/metrics`` answers 404.
    metrics_token: SecretStr | None = Field(default=None, description="the scrape token for /metrics")

    #: Which venue executes orders: the built-in paper broker, or an Alpaca paper account.
    broker: Literal["paper", "alpaca"] = Field(
        default="paper", description="the venue: paper (built in, in this database) or alpaca (a paper account)"
    )
    #: Seconds a verified token stays trusted in this process; a revocation takes effect
    #: within this delay. 0 checks the database on every request.
    token_cache_seconds: float = Field(
        default=5.0, ge=0, le=60, description="a verified token is trusted this long per process (a revocation's delay)"
    )
    #: The largest request body Raptor reads (an order is a few hundred bytes): a larger one is
    #: refused 413 ``body_too_large`` before it is read past this (``raxx.raptor.intake``).
    max_body_bytes: int = Field(
        default=65536, ge=1024, le=16 * 1024 * 1024, description="the largest request body read (bytes); larger: 413"
    )
    #: Period of the background pass that lets the broker work (fill crossing limit
    #: orders, expire day orders) and syncs open orders from it. 0 turns it off.
    maintenance_interval_seconds: float = Field(
        default=1.0, ge=0, description="the broker pass (fills, expiries, order sync) runs this often (0: off)"
    )
    #: How long an order recorded without the broker's answer waits before the sync pass
    #: asks the broker about it (and places it if the broker never got it).
    pending_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        description="an order recorded without the broker's answer is asked about after this "
        "(with Alpaca, not before RAPTOR_BROKER_DEADLINE_S)",
    )

    # The built-in paper broker (RAPTOR_PAPER_*).
    paper_seed: int = Field(default=20261126, description="seed of the deterministic price paths")
    paper_starting_cash: Decimal = Field(default=Decimal("100000"), gt=0, description="the paper account's first cash")
    paper_tick_seconds: float = Field(default=1.0, gt=0, description="one price step every this many seconds")
    paper_volatility: float = Field(default=0.02, ge=0, le=0.5, description="relative amplitude of the price path")
    paper_liquidity: Decimal | None = Field(
        default=None, gt=0, description="most quantity one fill may take (None: fill whole); makes partial fills"
    )

    # Alpaca (RAPTOR_ALPACA_*), when RAPTOR_BROKER=alpaca. Each environment has its own paper
    # account and key pair; the keys come from the secrets chain (Infisical or config vars).
    alpaca_api_key_id: str | None = Field(default=None, description="the paper account's API key id")
    alpaca_api_secret_key: SecretStr | None = Field(default=None, description="the paper account's API secret key")
    alpaca_base_url: str = Field(default=ALPACA_PAPER_URL, description="the paper endpoint; live needs allow_live")
    #: Live trading with real money. No deployment of ours sets it; it exists so that the
    #: refusal below is a deliberate setting rather than a code change.
    alpaca_allow_live: bool = Field(
        default=False, description="accept Alpaca's live endpoint (real money): never set by a deployment of ours"
    )
    alpaca_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=25,
        description="seconds to wait for one answer (with the connect timeout, within the deadline)",
    )
    alpaca_connect_timeout_s: float = Field(default=3.0, gt=0, le=30, description="seconds to wait for a connection")
    #: Alpaca's limit for the account: 200 requests a minute (more with Alpaca Plus). Every
    #: process of the environment draws from one budget in its database that keeps each
    #: window 5 % under it (``raptor/broker/budget.py``).
    alpaca_rate_limit: int = Field(
        default=200, ge=3, le=10000, description="Alpaca's request limit for the account, per window"
    )
    alpaca_rate_window_s: float = Field(
        default=60.0, gt=0, le=3600, description="the window Alpaca counts requests in (60 s; tests shorten it)"
    )
    alpaca_budget_max_wait_s: float = Field(
        default=10.0, ge=0, le=25, description="longest a request waits for the account's budget before a 503"
    )
    #: All of one request's waiting on the broker, whatever its calls, retries and look-ups
    #: still had to do (``raxx.raptor.broker.deadline``): Raptor answers before the router's 30 s.
    broker_deadline_s: float = Field(
        default=20.0,
        gt=0,
        le=25,
        description="seconds one request may wait on a remote broker in all (under the router's 30 s); "
        "past it the answer is 503 broker_unavailable",
    )

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise ValueError("must be an environment name such as staging or prod")
        return value

    @model_validator(mode="after")
    def _alpaca_configured(self) -> RaptorSettings:
        if self.broker != "alpaca":
            return self
        missing = [
            name
            for name, value in (
                ("RAPTOR_ALPACA_API_KEY_ID", self.alpaca_api_key_id),
                ("RAPTOR_ALPACA_API_SECRET_KEY", self.alpaca_api_secret_key),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"RAPTOR_BROKER=alpaca needs {' and '.join(missing)} (not set)")
        check_alpaca_url(self.alpaca_base_url, allow_live=self.alpaca_allow_live)
        one_call = self.alpaca_connect_timeout_s + self.alpaca_timeout_s
        if one_call > self.broker_deadline_s:
            raise ConfigError(
                f"RAPTOR_ALPACA_CONNECT_TIMEOUT_S + RAPTOR_ALPACA_TIMEOUT_S ({one_call:g} s) must fit in "
                f"RAPTOR_BROKER_DEADLINE_S ({self.broker_deadline_s:g} s, at most 25: under Heroku's router's "
                f"{ROUTER_TIMEOUT_S:g} s): one call to Alpaca would always be cut by the request's deadline"
            )
        return self

    @property
    def pending_grace(self) -> timedelta:
        """How long an order recorded without the broker's answer is left to its own request:
        ``RAPTOR_PENDING_GRACE_SECONDS``, and with a remote broker never less than the request's
        deadline, so the sync pass does not ask (or place) while the request may still be asking."""
        seconds = self.pending_grace_seconds
        if self.broker == "alpaca":
            seconds = max(seconds, self.broker_deadline_s)
        return timedelta(seconds=seconds)

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url


def check_alpaca_url(url: str, *, allow_live: bool) -> bool:
    """Refuse any Alpaca endpoint but the paper one; return whether ``url`` is live.

    The live endpoint needs ``RAPTOR_ALPACA_ALLOW_LIVE=true``. A loopback URL (a local fake
    speaking Alpaca's API) is accepted for tests and development.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return False
    if parts.scheme != "https":
        raise ConfigError(f"RAPTOR_ALPACA_BASE_URL must be https (got {parts.scheme or 'no'} scheme)")
    if host == ALPACA_LIVE_HOST:
        if not allow_live:
            raise ConfigError(
                "RAPTOR_ALPACA_BASE_URL is Alpaca's live endpoint (real money); Raptor trades on paper only "
                f"({ALPACA_PAPER_URL}) unless RAPTOR_ALPACA_ALLOW_LIVE=true"
            )
        return True
    if host != urlsplit(ALPACA_PAPER_URL).hostname:
        raise ConfigError(f"RAPTOR_ALPACA_BASE_URL must be {ALPACA_PAPER_URL} (got host {host!r})")
    return False
