"""The console's settings: ``CONSOLE_*``, validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.dbbudget import BudgetSettings, Pools, console_web_pools, ledger_read_pools
from raxx.common.environments import DEFAULT_REGISTRY_FILE, EnvironmentRegistry
from raxx.common.errors import ConfigError
from raxx.common.release import current_release
from raxx.common.router import ROUTER_TIMEOUT_S
from raxx.common.secrets import ChainSecrets, build_secrets_chain
from raxx.common.settings import load_budget, refuse_placeholder
from raxx.console.auth.roles import ROLE_NAMES

DEFAULT_REGISTRY = DEFAULT_REGISTRY_FILE
#: First path segments the console uses itself: an environment of that name would be unreachable.
RESERVED_PATHS = frozenset(
    {
        "alerts",
        "api",
        "compare",
        "tokens",
        "login",
        "logout",
        "switch",
        "static",
        "theme",
        "favicon",
        "healthz",
        "readyz",
        "audit-assets",
        "metrics",
    }
)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    database_url: str = Field(description="runtime PostgreSQL URL (users, sessions, audit)")
    ledger_database_url: str | None = Field(
        default=None, description="the release gate's ledger, read-only, for the releases page"
    )
    migration_database_url: str | None = Field(
        default=None, description="owner role URL for migrations; defaults to database_url"
    )
    environments_file: Path = Field(default=DEFAULT_REGISTRY, description="the environment registry (TOML)")
    secret_key: str = Field(description="signs login CSRF tokens and confirmations; a real secret outside development")
    development: bool = Field(
        default=False, description="allow placeholder secrets, short keys, http OIDC and a .env file (raxx up)"
    )
    dotenv_file: Path | None = Field(default=None, description="a .env secrets file (development and raxx up only)")
    release: str = Field(
        default_factory=current_release,
        description="the release it runs, as the banner and the logs name it (default: RAXX_RELEASE, "
        "else Heroku's HEROKU_SLUG_COMMIT, else git)",
    )
    log_level: str = Field(default="INFO", description="the log level (DEBUG, INFO, WARNING, ERROR)")
    #: Bearer token Prometheus presents to ``/metrics``; unset, ``/metrics`` answers 404.
    metrics_token: SecretStr | None = Field(default=None, description="the scrape token for /metrics")

    session_hours: float = Field(default=12.0, gt=0, description="absolute session lifetime")
    session_idle_minutes: float = Field(default=60.0, gt=0, description="a session unused this long ends")
    cookie_secure: bool | None = Field(
        default=None, description="force Secure cookies; default: when served over https"
    )

    #: The largest request body the console reads (its forms and the JSON API's bodies are well
    #: under 4 KiB): a larger one is refused 413 ``body_too_large`` before it is read past this.
    max_body_bytes: int = Field(
        default=65536, ge=1024, le=16 * 1024 * 1024, description="the largest request body read (bytes); larger: 413"
    )
    raptor_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=25,
        description="seconds to wait for Raptor's answer (with the connect timeout, under the router's 30 s)",
    )
    raptor_connect_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="seconds to wait for a connection to Raptor"
    )
    identity_ttl_s: float = Field(default=30.0, gt=0, description="re-check each backend's identity this often")
    identity_recheck_s: float = Field(
        default=5.0,
        gt=0,
        description="a page that states a backend's identity asks it again when the last answer is older than this",
    )

    login_delay_after: int = Field(default=3, ge=1, description="failed logins before responses are slowed")
    login_lockout_after: int = Field(default=10, ge=2, description="failed logins in the window before refusing")
    login_window_minutes: float = Field(default=15.0, gt=0, description="the window failed logins are counted in")

    #: The connection budget (``RAXX_*``, ``WEB_CONCURRENCY``): every pool is sized from it.
    budget: BudgetSettings = Field(default_factory=load_budget)

    confirm_ttl_s: float = Field(
        default=300.0, ge=10, le=3600, description="how long a typed confirmation stays valid (protected envs)"
    )
    api_token_cache_s: float = Field(
        default=5.0, ge=0, le=60, description="a verified API token is trusted this long per process"
    )
    orders_refresh_s: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="the pages' live fragments (orders, Overview, positions, trading, health, releases) "
        "refresh this often (0: off)",
    )
    audit_checkpoint_minutes: float = Field(
        default=15.0, gt=0, description="sign an audit checkpoint this often (needs CONSOLE_AUDIT_SIGNING_KEY)"
    )
    audit_reconcile_after_minutes: float = Field(
        default=10.0, gt=0, description="an audit attempt with no outcome after this long is reconciled"
    )

    # -- OpenID Connect sign-in (docs/authentication.md); off while CONSOLE_OIDC_ISSUER is unset --
    oidc_issuer: str | None = Field(
        default=None, description="the identity provider's issuer URL; set: SSO on, passwords for break-glass only"
    )
    oidc_client_id: str | None = Field(
        default=None, description="the console's client id at the provider (required with an issuer)"
    )
    oidc_client_secret: str | None = Field(default=None, description="the console's client secret at the provider")
    oidc_scopes: str = Field(default="openid email profile", description="scopes asked for (add groups for Okta)")
    oidc_groups_claim: str = Field(default="groups", description="the ID token claim listing the user's groups")
    oidc_username_claim: str = Field(default="email", description="the ID token claim that names the console user")
    oidc_role_map: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON: group -> {environment: role}; e.g. {"raxx-prod-ops": {"prod": "operator"}}; deny by default',
    )
    oidc_redirect_url: str | None = Field(
        default=None,
        description="the callback URL registered at the provider; default: this console's /login/oidc/callback",
    )
    oidc_clock_skew_s: float = Field(default=60.0, ge=0, le=600, description="leeway for exp/iat/auth_time")
    oidc_jwks_refresh_s: float = Field(
        default=60.0, ge=0, le=3600, description="at most one JWKS refetch (unknown key id) this often"
    )
    oidc_display_name: str = Field(default="single sign-on", description="the sign-in button says 'Sign in with ...'")
    recent_auth_minutes: float = Field(
        default=15.0, gt=0, le=1440, description="prod mutations need a sign-in newer than this (auth_time)"
    )

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> ConsoleSettings:
        refuse_placeholder("CONSOLE_SECRET_KEY", self.secret_key, development=self.development)
        if not self.development and len(self.secret_key) < 32:
            raise ValueError("CONSOLE_SECRET_KEY must be at least 32 characters outside development")
        return self

    @model_validator(mode="after")
    def _answers_before_the_router_gives_up(self) -> ConsoleSettings:
        # Heroku's router cuts every request at 30 s (H12): past that the operator sees the
        # router's error page, not the console's "may have reached <environment>" answer.
        if self.raptor_connect_timeout_s + self.raptor_timeout_s >= ROUTER_TIMEOUT_S:
            raise ValueError(
                f"CONSOLE_RAPTOR_CONNECT_TIMEOUT_S + CONSOLE_RAPTOR_TIMEOUT_S must stay under {ROUTER_TIMEOUT_S:g} s, "
                "the router's limit (Heroku's H12): the console must answer first"
            )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> ConsoleSettings:
        if self.oidc_issuer is None:
            return self
        if not self.oidc_client_id:
            raise ValueError("CONSOLE_OIDC_CLIENT_ID is required when CONSOLE_OIDC_ISSUER is set")
        loopback = urlsplit(self.oidc_issuer).hostname in ("127.0.0.1", "localhost", "::1")
        if not self.development and not loopback and not self.oidc_issuer.startswith("https://"):
            raise ValueError("CONSOLE_OIDC_ISSUER must be an https:// URL (http only on loopback or in development)")
        for group, grants in self.oidc_role_map.items():
            for environment, role in grants.items():
                if role not in ROLE_NAMES:
                    raise ValueError(
                        f"CONSOLE_OIDC_ROLE_MAP: group {group!r} grants unknown role {role!r} in {environment}"
                    )
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @property
    def migrations_url(self) -> str:
        return self.migration_database_url or self.database_url

    def pools(self) -> Pools:
        """A web worker's pool on the console database, or the refusal when the formation
        cannot fit the declared budget (``raxx.common.dbbudget``)."""
        return console_web_pools(self.budget, database_url=self.database_url, ledger_url=self.ledger_database_url)

    def ledger_pools(self) -> Pools | None:
        """The board's read pool on the ledger, when this console reads one."""
        return ledger_read_pools(self.budget) if self.ledger_database_url else None

    def load_registry(self) -> EnvironmentRegistry:
        registry = EnvironmentRegistry.from_toml(self.environments_file)
        clash = sorted(set(registry) & RESERVED_PATHS)
        if clash:
            raise ConfigError(f"{self.environments_file}: {clash} are console paths and cannot name an environment")
        return registry

    def secrets_provider(self) -> ChainSecrets:
        """Infisical when configured (``INFISICAL_*``), then the .env file (development), then
        config vars; the registry's token secrets are what must be found somewhere."""
        if self.dotenv_file is not None and not self.development:
            raise ConfigError("CONSOLE_DOTENV_FILE is for development only; use a secrets manager or config vars")
        required = [spec.token_secret for spec in self.load_registry().values()]
        return build_secrets_chain(
            dotenv_file=self.dotenv_file,
            development=self.development,
            infisical_path=os.environ.get("INFISICAL_SECRET_PATH") or "/console",
            required=required,
        )
