"""The services of the local topology: how each process is started and what it is told."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from raxx.common.provision import ProvisionedDatabase
from raxx.local.options import RAPTOR_ENVS, UpOptions
from raxx.local.provision import Databases, LocalSecrets, ensure_checkpoint_key
from raxx.local.supervisor import ServiceSpec

#: How a service runs this very raxx (the interpreter of ``raxx up``).
RAXX = [sys.executable, "-m", "raxx"]


def policy_file() -> Path:
    """``deploy/policy.toml`` of this checkout (absolute: children may run elsewhere)."""
    beside_source = Path(__file__).resolve().parents[3] / "deploy" / "policy.toml"
    return beside_source if beside_source.exists() else Path("deploy/policy.toml").resolve()


OIDC_CLIENT_ID = "raxx-console"


def oidc_demo_service(options: UpOptions, store: LocalSecrets, release: str) -> tuple[ServiceSpec, dict[str, str]]:
    """The demo OpenID provider, and the console settings that sign in through it."""
    import json

    from raxx.console.auth.demo_provider import DEMO_ROLE_MAP

    issuer = f"http://{options.host}:{options.oidc_port}"
    secret = store.get_or_create("OIDC_DEMO_CLIENT_SECRET", lambda: secrets.token_urlsafe(32))
    callback = f"http://{options.host}:{options.console_port}/login/oidc/callback"
    spec = ServiceSpec(
        name="oidc-demo",
        app="oidc-demo",
        environment=None,
        argv=[
            *RAXX,
            "console",
            "oidc-demo",
            "--host",
            options.host,
            "--port",
            str(options.oidc_port),
            "--client-id",
            OIDC_CLIENT_ID,
            "--redirect-uri",
            callback,
        ],
        env={
            "RAXX_OIDC_DEMO_CLIENT_SECRET": secret,
            "RAXX_OIDC_DEMO_PASSWORD": oidc_demo_password(options, store),
        },
        url=issuer,
        ready_path="/.well-known/openid-configuration",
        release=release,
    )
    console_env = {
        "CONSOLE_OIDC_ISSUER": issuer,
        "CONSOLE_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "CONSOLE_OIDC_CLIENT_SECRET": secret,
        "CONSOLE_OIDC_SCOPES": "openid email profile groups",
        "CONSOLE_OIDC_ROLE_MAP": json.dumps(DEMO_ROLE_MAP),
        "CONSOLE_OIDC_DISPLAY_NAME": "the demo identity provider",
    }
    return spec, console_env


def oidc_demo_password(options: UpOptions, store: LocalSecrets) -> str:
    """The demo provider users' password: RAXX_DEMO_PASSWORD, or one generated and kept in secrets.env."""
    return options.environ.get("RAXX_DEMO_PASSWORD") or store.get_or_create("OIDC_DEMO_PASSWORD")


def build_services(
    options: UpOptions, data_dir: Path, dbs: Databases, store: LocalSecrets, release: str
) -> list[ServiceSpec]:
    """Raptor staging and prod, the demo identity provider if asked, the console, the monitor."""
    ensure_checkpoint_key(store)
    # A person reads these lines in the terminal: readable ones, unless RAXX_LOG_FORMAT says otherwise.
    log_format = {"RAXX_LOG_FORMAT": options.environ.get("RAXX_LOG_FORMAT") or "console"}
    services = [raptor_service(options, env, dbs.raptor[env], release, log_format) for env in RAPTOR_ENVS]
    oidc_env: dict[str, str] = {}
    if options.oidc_demo:
        provider, oidc_env = oidc_demo_service(options, store, release)
        services.append(provider)
    services.append(console_service(options, data_dir, dbs, store, release, {**log_format, **oidc_env}))
    if options.monitor and dbs.ledger is not None:
        services.append(monitor_service(options, data_dir, dbs, store, release, log_format))
    return services


def raptor_service(
    options: UpOptions, env: str, db: ProvisionedDatabase, release: str, log_format: dict[str, str]
) -> ServiceSpec:
    port = options.raptor_ports()[env]
    return ServiceSpec(
        name=f"raptor-{env}",
        app="raptor",
        environment=env,
        argv=[*RAXX, "raptor", "serve", "--host", options.host, "--port", str(port)],
        env={
            "RAPTOR_ENVIRONMENT": env,
            "RAPTOR_DATABASE_URL": db.runtime_url,
            "RAPTOR_MIGRATION_DATABASE_URL": db.owner_url,
            "RAPTOR_DEVELOPMENT": "true",
            **log_format,
        },
        url=f"http://{options.host}:{port}",
        release=release,
        release_var="RAPTOR_RELEASE",
        migrate=(db.owner_url, db.runtime_url, "raptor"),
    )


def console_service(
    options: UpOptions, data_dir: Path, dbs: Databases, store: LocalSecrets, release: str, extra: dict[str, str]
) -> ServiceSpec:
    """The console (as prod's): ``extra`` is the log format and, with ``--oidc-demo``, its sign-on settings."""
    return ServiceSpec(
        name="console-prod",
        app="console",
        environment="prod",
        argv=[*RAXX, "console", "serve", "--host", options.host, "--port", str(options.console_port)],
        env={
            "CONSOLE_DATABASE_URL": dbs.console.runtime_url,
            "CONSOLE_MIGRATION_DATABASE_URL": dbs.console.owner_url,
            "CONSOLE_ENVIRONMENTS_FILE": str(data_dir / "environments.toml"),
            "CONSOLE_SECRET_KEY": store.get_or_create("CONSOLE_SECRET_KEY", lambda: secrets.token_urlsafe(48)),
            "CONSOLE_DOTENV_FILE": str(store.path),
            "CONSOLE_DEVELOPMENT": "true",
            # The releases page reads the gate's ledger (in a read-only transaction).
            **({"CONSOLE_LEDGER_DATABASE_URL": dbs.ledger.runtime_url} if dbs.ledger else {}),
            **extra,
        },
        url=f"http://{options.host}:{options.console_port}",
        release=release,
        release_var="CONSOLE_RELEASE",
        migrate=(dbs.console.owner_url, dbs.console.runtime_url, "console"),
    )


def monitor_service(
    options: UpOptions,
    data_dir: Path,
    dbs: Databases,
    store: LocalSecrets,
    release: str,
    log_format: dict[str, str],
) -> ServiceSpec:
    """The health monitor, which also carries out the releases page's promotions and rollbacks:
    it smoke-checks them as ``raxx gate`` does, so it holds the smoke token the CLI reads from
    ``.raxx/raxx.env`` (without it every promotion from the console was refused ``smoke_ready``)."""
    assert dbs.ledger is not None
    return ServiceSpec(
        name="monitor",
        app="monitor",
        environment=None,
        argv=[*RAXX, "monitor"],
        env={
            "GATE_DATABASE_URL": dbs.ledger.runtime_url,
            "GATE_MIGRATION_DATABASE_URL": dbs.ledger.owner_url,
            "GATE_TOPOLOGY_FILE": str(data_dir / "run" / "topology.json"),
            "GATE_MONITOR_INTERVAL": str(options.monitor_interval),
            "GATE_AUDIT_DATABASE_URL": dbs.console.runtime_url,
            "GATE_POLICY_FILE": str(policy_file()),
            "GATE_PLATFORM": "local",
            "GATE_CONSOLE_SMOKE_TOKEN": store.values.get("GATE_CONSOLE_SMOKE_TOKEN", ""),
            **log_format,
        },
        url=None,
        ready_path=None,
        release=release,
    )
