"""What a deployed process is: the app named by ``RAXX_APP``, its secrets, its settings.

One repository and one artifact serve all three Heroku apps; configuration picks the
app. ``raxx web`` (the Procfile's ``web``) serves it on ``$PORT``; ``raxx release`` (the
release phase) runs its migrations; ``raxx secrets check`` lists the keys it needs.

Settings come through the secrets chain (``raxx.common.secrets.build_secrets_chain``):
Infisical when configured, then a ``.env`` file in development, then config vars.
Heroku's ``DATABASE_URL`` stands in for the app's own ``*_DATABASE_URL``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from raxx.common.dbbudget import BudgetSettings
from raxx.common.errors import ConfigError
from raxx.common.secrets import ChainSecrets, SecretStatus, build_secrets_chain
from raxx.common.settings import load_settings

APP_VAR = "RAXX_APP"
DOTENV_VAR = "RAXX_DOTENV_FILE"
HEROKU_DATABASE_VAR = "DATABASE_URL"

S = TypeVar("S", bound=BaseSettings)
log = logging.getLogger("raxx.runtime")


@dataclass(frozen=True)
class AppSpec:
    """A deployable as Heroku sees it."""

    name: str
    tree: str
    prefix: str
    #: Infisical folder holding this app's secrets (``INFISICAL_SECRET_PATH`` overrides it).
    infisical_path: str

    @property
    def database_var(self) -> str:
        return f"{self.prefix}DATABASE_URL"


APPS: dict[str, AppSpec] = {
    "raptor": AppSpec("raptor", "raptor", "RAPTOR_", "/raptor"),
    "console": AppSpec("console", "console", "CONSOLE_", "/console"),
    "gate": AppSpec("gate", "ledger", "GATE_", "/gate"),
}
#: Apps a web dyno can serve (the gate is a CLI run by CI).
WEB_APPS = ("raptor", "console")


def app_spec(name: str | None, *, web: bool = False) -> AppSpec:
    """The app ``name`` (default: ``RAXX_APP``), refused by name when unknown."""
    chosen = (name or os.environ.get(APP_VAR, "")).strip()
    allowed = WEB_APPS if web else tuple(APPS)
    if not chosen:
        raise ConfigError(f"{APP_VAR} is required but not set (one of: {', '.join(allowed)})")
    if chosen not in allowed:
        raise ConfigError(f"{APP_VAR} is invalid: {chosen!r} is not one of {', '.join(allowed)}")
    return APPS[chosen]


#: Where the console's releases page finds the gate's ledger on Heroku when
#: ``CONSOLE_LEDGER_DATABASE_URL`` is not set: the ledger add-on's attachments on the console
#: app (a read-only credential first). Heroku keeps attachments current when it rotates
#: credentials; a copied URL would go stale.
CONSOLE_LEDGER_ATTACHMENTS = ("GATE_READONLY_DATABASE_URL", "GATE_DATABASE_URL")


def heroku_environ(spec: AppSpec, environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with Heroku's add-on attachments standing in for the app's own settings:
    ``DATABASE_URL`` for the app's database URL, and for the console the ledger's attachment
    for ``CONSOLE_LEDGER_DATABASE_URL``."""
    values = dict(environ)
    if not values.get(spec.database_var) and values.get(HEROKU_DATABASE_VAR):
        values[spec.database_var] = values[HEROKU_DATABASE_VAR]
    if spec.name == "console" and not values.get("CONSOLE_LEDGER_DATABASE_URL"):
        attached = next((values[var] for var in CONSOLE_LEDGER_ATTACHMENTS if values.get(var)), None)
        if attached:
            values["CONSOLE_LEDGER_DATABASE_URL"] = attached
    return values


def dyno_app(environ: Mapping[str, str]) -> AppSpec | None:
    """The app ``RAXX_APP`` names on a dyno; None elsewhere, or for a name no app has (``raxx
    web`` refuses that by name: ``app_spec``)."""
    return APPS.get(environ.get(APP_VAR, "").strip())


def adopt_dyno_attachments(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """On a dyno (``RAXX_APP`` names the app): every command finds the app's database as ``raxx
    web`` does, so ``heroku run raxx audit verify -a acme-console`` needs no ``--database-url
    "$DATABASE_URL"``. Only adds what is unset, and returns the names added (the CLI removes
    them when the command ends); elsewhere (``raxx up``, CI) does nothing."""
    environ = os.environ if environ is None else environ
    spec = dyno_app(environ)
    if spec is None:
        return []
    added = {key: value for key, value in heroku_environ(spec, environ).items() if key not in environ}
    environ.update(added)
    return list(added)


def dyno_secrets_opener(environ: Mapping[str, str] | None = None) -> Callable[[], ChainSecrets] | None:
    """How a command on this dyno opens the app's secrets chain (``open_secrets``), or None when
    ``RAXX_APP`` names no app."""
    spec = dyno_app(os.environ if environ is None else environ)
    return None if spec is None else lambda: open_secrets(spec, environ)


def open_secrets(
    spec: AppSpec, environ: Mapping[str, str] | None = None, *, infisical_environment: str | None = None
) -> ChainSecrets:
    """The app's secrets chain. Infisical's folder defaults to the app's (``/raptor``)."""
    values = heroku_environ(spec, os.environ if environ is None else environ)
    dotenv = values.get(DOTENV_VAR)
    development = truthy(values.get(f"{spec.prefix}DEVELOPMENT"))
    return build_secrets_chain(
        values,
        dotenv_file=Path(dotenv) if dotenv else None,
        development=development,
        infisical_environment=infisical_environment,
        infisical_path=values.get("INFISICAL_SECRET_PATH") or spec.infisical_path,
        required=list(_static_requirements(spec)),
    )


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


# -- what each app needs ------------------------------------------------------------------


def _static_requirements(spec: AppSpec) -> dict[str, str]:
    """Keys every deployment of ``spec`` needs, whatever else it is configured for."""
    if spec.name == "raptor":
        return {
            "RAPTOR_ENVIRONMENT": "which deployment this is (staging or prod)",
            "RAPTOR_DATABASE_URL": "the environment's own PostgreSQL (Heroku: DATABASE_URL)",
        }
    if spec.name == "console":
        return {
            "CONSOLE_DATABASE_URL": "users, sessions and the audit trail (Heroku: DATABASE_URL)",
            "CONSOLE_SECRET_KEY": "signs CSRF and confirmation tokens",
            "CONSOLE_AUDIT_SIGNING_KEY": "Ed25519 key signing audit checkpoints (`raxx audit keygen`)",
        }
    return {}


def required_secrets(spec: AppSpec, chain: ChainSecrets) -> dict[str, str]:
    """Every key ``spec`` needs with what it is for, given the rest of its configuration."""
    needed = _static_requirements(spec)
    if spec.name == "raptor" and (chain.get("RAPTOR_BROKER") or "paper") == "alpaca":
        needed["RAPTOR_ALPACA_API_KEY_ID"] = "the environment's Alpaca paper key id"
        needed["RAPTOR_ALPACA_API_SECRET_KEY"] = "the environment's Alpaca paper secret key"  # noqa: S105
    if spec.name == "console":
        needed.update(_console_token_secrets(chain))
    if spec.name == "gate":
        needed.update(_gate_secrets(chain))
    return needed


def _console_token_secrets(chain: ChainSecrets) -> dict[str, str]:
    from raxx.common.environments import EnvironmentRegistry
    from raxx.console.config import DEFAULT_REGISTRY

    path = Path(chain.get("CONSOLE_ENVIRONMENTS_FILE") or DEFAULT_REGISTRY)
    registry = EnvironmentRegistry.from_toml(path)
    return {spec.token_secret: f"the console's Raptor token for {name}" for name, spec in registry.items()}


def _gate_secrets(chain: ChainSecrets) -> dict[str, str]:
    needed: dict[str, str] = {}
    from_heroku = bool(chain.get("GATE_DATABASE_URL_FROM"))
    if not from_heroku:  # else read at run time from that Heroku config var
        needed["GATE_DATABASE_URL"] = "the release ledger"
    if from_heroku or (chain.get("GATE_PLATFORM") or "local") == "heroku":
        needed["GATE_HEROKU_API_TOKEN"] = "a Heroku OAuth authorization for the Platform API"  # noqa: S105
    return needed


def check_secrets(spec: AppSpec, chain: ChainSecrets) -> list[SecretStatus]:
    return chain.check(required_secrets(spec, chain))


def require_secrets(spec: AppSpec, chain: ChainSecrets) -> None:
    """Refuse to start when a required key is missing, naming it (never a value)."""
    chain.require_all(required_secrets(spec, chain))


def secret_values(spec: AppSpec, chain: ChainSecrets) -> list[str]:
    """The values a redacting log formatter must blank out for this app."""
    keys = [k for k in required_secrets(spec, chain) if k not in ("RAPTOR_ENVIRONMENT",)]
    keys += ["INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET", HEROKU_DATABASE_VAR, f"{spec.prefix}MIGRATION_DATABASE_URL"]
    keys += [f"{spec.prefix}METRICS_TOKEN"]
    return chain.values(keys)


# -- settings through the chain -----------------------------------------------------------


def settings_from_chain(cls: type[S], prefix: str, chain: ChainSecrets, **overrides: Any) -> S:
    """``cls`` built from whatever the chain answers for each ``PREFIX_FIELD``.

    Passing every found value explicitly gives the chain's precedence (Infisical over config
    vars) instead of pydantic's own environment reading.
    """
    found: dict[str, Any] = {}
    for field in cls.model_fields:
        value = chain.get(f"{prefix}{field.upper()}")
        if value is not None:
            found[field] = value
    found.update(overrides)
    return load_settings(cls, **found)


@dataclass
class WebApp:
    """Everything ``raxx web`` serves: the ASGI app and how uvicorn should treat it."""

    spec: AppSpec
    app: Any
    log_level: str
    proxy_headers: bool
    redact: list[str]


def build_web_app(environ: Mapping[str, str] | None = None) -> WebApp:
    """Resolve ``RAXX_APP``, its secrets and settings, and build the app (no serving)."""
    values = dict(os.environ if environ is None else environ)
    spec = app_spec(values.get(APP_VAR), web=True)
    chain = open_secrets(spec, values)
    require_secrets(spec, chain)
    if spec.name == "raptor":
        from raxx.raptor.app import create_app as create_raptor_app
        from raxx.raptor.config import RaptorSettings

        raptor = settings_from_chain(RaptorSettings, spec.prefix, chain, budget=budget_from(values))
        # Behind the router (raxx.common.router.BehindRouter): a token sent over plain http is
        # answered with a redirect to https, never acted on.
        return WebApp(spec, create_raptor_app(raptor), raptor.log_level, True, secret_values(spec, chain))
    from raxx.console.app import create_app as create_console_app
    from raxx.console.config import ConsoleSettings

    console = settings_from_chain(ConsoleSettings, spec.prefix, chain, budget=budget_from(values))
    # Heroku's router is the only way in and sets X-Forwarded-Proto: trusting it gives
    # Secure cookies, and plain http is redirected to https (raxx.common.router.BehindRouter).
    return WebApp(spec, create_console_app(console, secrets=chain), console.log_level, True, secret_values(spec, chain))


def web_app_factory() -> Any:
    """uvicorn ``--factory`` entry for multi-worker dynos (``WEB_CONCURRENCY`` > 1)."""
    from raxx.common.logging import configure_logging
    from raxx.common.metrics_workers import mark_dead_on_shutdown
    from raxx.common.secrets import install_redaction

    configure_logging("INFO")
    built = build_web_app()
    configure_logging(built.log_level)
    install_redaction(built.redact)
    mark_dead_on_shutdown(built.app)  # its live gauges leave the sum when it stops
    return built.app


def serve_web(*, host: str, port: int, workers: int = 1) -> None:
    """The Procfile's ``web``: the app named by ``RAXX_APP`` on ``$PORT``."""
    from raxx.common.asgi import run_server, server_options
    from raxx.common.logging import configure_logging
    from raxx.common.metrics import MULTIPROC_VAR
    from raxx.common.metrics_workers import prepare_multiprocess_dir
    from raxx.common.secrets import install_redaction
    from raxx.common.supervisor import run_workers

    configure_logging("INFO")  # start-up events (secrets loaded: where and how many keys, never values)
    # The workers about to start are what the connection budget divides by, whichever way
    # their number was given (WEB_CONCURRENCY or --workers): each spawned worker reads it.
    os.environ["WEB_CONCURRENCY"] = str(workers)
    if workers > 1 or os.environ.get(MULTIPROC_VAR):
        # Before any metric exists: the workers' counts go to files there, and a scrape of
        # any worker adds them up (raxx.common.metrics).
        prepare_multiprocess_dir(os.environ)
    built = build_web_app()  # refuse to start here, once, before any worker is forked
    configure_logging(built.log_level)
    install_redaction(built.redact)
    # Heroku sends SIGTERM, then SIGKILL 30 s later.
    options = server_options(host=host, port=port, proxy_headers=built.proxy_headers, graceful_s=25)
    if workers > 1:
        run_workers("raxx.runtime:web_app_factory", workers=workers, **options)
    else:
        run_server(built.app, host=host, port=port, proxy_headers=built.proxy_headers, graceful_s=25)


def budget_from(environ: Mapping[str, str]) -> BudgetSettings:
    """The connection budget ``environ`` declares (config vars: ``RAXX_*``, ``WEB_CONCURRENCY``)."""
    found = {name: environ[var] for name, var in BudgetSettings.variables().items() if var in environ}
    return load_settings(BudgetSettings, **found)
