"""``raxx up``: the whole local topology on one machine.

Embedded PostgreSQL (unless URLs are given) with one database and one pair of roles
per deployment, migrations as a release step, Raptor staging and prod, the console,
the health monitor; a table of URLs and the demo login; Ctrl-C stops everything.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raxx.common.aio import run_sync
from raxx.common.errors import ConfigError, Unavailable
from raxx.common.migrations import current_heads, upgrade
from raxx.common.pgembed import EmbeddedPostgres, port_is_free
from raxx.common.provision import ProvisionedDatabase, provision_database
from raxx.common.release import current_release
from raxx.common.secrets import DotenvSecrets, write_dotenv
from raxx.local.supervisor import ServiceSpec, Supervisor

RAPTOR_ENVS = ("staging", "prod")
DEMO_USER = "demo"
ENV_COLORS = {"staging": ("STAGING", "#b45309", False), "prod": ("PRODUCTION", "#b91c1c", True)}


@dataclass
class UpOptions:
    data_dir: str = ".raxx"
    console_port: int = 8000
    staging_port: int = 8101
    prod_port: int = 8102
    monitor: bool = True
    host: str = "127.0.0.1"
    monitor_interval: float = 30.0
    #: also start the demo OpenID provider and sign the console in through it (``--oidc-demo``)
    oidc_demo: bool = False
    oidc_port: int = 8103
    #: overrides for tests: a server to provision on instead of the embedded one
    admin_url: str | None = None
    database_prefix: str = "raxx"
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Databases:
    raptor: dict[str, ProvisionedDatabase]
    console: ProvisionedDatabase
    ledger: ProvisionedDatabase | None


class LocalSecrets:
    """``<data_dir>/secrets.env``: generated once, reused by every later ``raxx up``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values = dict(DotenvSecrets(path)._values) if path.exists() else {}

    def get_or_create(self, key: str, factory: Any = None) -> str:
        if not self.values.get(key):
            self.values[key] = factory() if factory else secrets.token_urlsafe(24)
            self.save()
        return self.values[key]

    def set(self, key: str, value: str) -> None:
        self.values[key] = value
        self.save()

    def save(self) -> None:
        write_dotenv(self.path, self.values)


def _check_ports(options: UpOptions) -> None:
    ports = [
        ("--console-port", options.console_port),
        ("--staging-port", options.staging_port),
        ("--prod-port", options.prod_port),
    ]
    if options.oidc_demo:
        ports.append(("--oidc-port", options.oidc_port))
    for flag, port in ports:
        if not port_is_free(port, options.host):
            raise ConfigError(f"port {port} is in use; stop what holds it or pass {flag} with another port")


def provision_all(admin_url: str, store: LocalSecrets, prefix: str, *, with_ledger: bool) -> Databases:
    """Separate databases and role pairs: staging's credentials cannot open prod's data."""

    def one(key: str) -> ProvisionedDatabase:
        name = f"{prefix}_{key}"
        return provision_database(
            admin_url,
            database=name,
            owner=f"{name}_owner",
            owner_password=store.get_or_create(f"DB_{key.upper()}_OWNER_PASSWORD"),
            runtime=f"{name}_app",
            runtime_password=store.get_or_create(f"DB_{key.upper()}_APP_PASSWORD"),
        )

    return Databases(
        raptor={env: one(f"raptor_{env}") for env in RAPTOR_ENVS},
        console=one("console"),
        ledger=one("ledger") if with_ledger else None,
    )


def _override(
    environ: dict[str, str], var: str, db: ProvisionedDatabase | None, migration_var: str | None = None
) -> ProvisionedDatabase | None:
    """A ``*_DATABASE_URL`` given by the user replaces the provisioned database.

    Its ``*_MIGRATION_DATABASE_URL``, when given, is the owner (as in ``ENV_FILE``, which
    a shell that runs ``raxx up`` again may have sourced).
    """
    url = environ.get(var)
    if not url:
        return db
    owner = (environ.get(migration_var) if migration_var else None) or url
    return ProvisionedDatabase(database=var, owner_url=owner, runtime_url=url)


def migrate_tree(tree: str, owner_url: str, runtime_url: str) -> bool:
    """Run migrations; return whether any revision was applied."""
    from sqlalchemy import create_engine

    from raxx.common.db import sqlalchemy_url

    def heads() -> set[str]:
        engine = create_engine(sqlalchemy_url(owner_url))
        try:
            with engine.connect() as conn:
                return current_heads(conn)
        finally:
            engine.dispose()

    before = heads()
    upgrade(tree, owner_url, runtime_url=runtime_url)
    return heads() != before


def policy_file() -> Path:
    """``deploy/policy.toml`` of this checkout (absolute: children may run elsewhere)."""
    beside_source = Path(__file__).resolve().parents[3] / "deploy" / "policy.toml"
    return beside_source if beside_source.exists() else Path("deploy/policy.toml").resolve()


def _gate_available() -> bool:
    return importlib.util.find_spec("raxx.gate.monitor") is not None


def _issue_raptor_token(store: LocalSecrets, env: str, db: ProvisionedDatabase) -> None:
    key = f"RAPTOR_TOKEN_{env.upper()}"
    if store.values.get(key):
        return
    from raxx.raptor.token.service import issue_token_sync

    store.set(
        key,
        issue_token_sync(db.runtime_url, environment=env, scopes=["read", "trade", "admin"], name="console (raxx up)"),
    )


def _ensure_demo_user(console_url: str, password: str | None, *, break_glass: bool = False) -> str | None:
    """Create the demo operator once; return the password when it was just set.

    ``break_glass``: with the demo identity provider on, passwords only work for break-glass
    accounts; the demo login stays one (and each use of it is audited as break-glass).
    """
    from raxx.console.auth import repository, service
    from raxx.console.auth.passwords import verify_password

    async def work() -> str | None:
        from raxx.common.db import create_engine, session_factory

        engine = create_engine(console_url, application_name="raxx-up", pool_size=1)
        try:
            async with session_factory(engine)() as db, db.begin():
                existing = await repository.user_by_name(db, DEMO_USER)
                if existing is None:
                    chosen = password or secrets.token_urlsafe(12)
                    roles = {env: "admin" for env in RAPTOR_ENVS}
                    await service.create_user(db, DEMO_USER, chosen, roles, break_glass=break_glass)
                    return chosen
                existing.break_glass = break_glass
                # The same RAXX_DEMO_PASSWORD at every start: a new password signs every
                # session out (set_password), so only set one that really changed.
                if password and not await verify_password(existing.password_hash, password):
                    await service.set_password(db, DEMO_USER, password)
                return password or None
        finally:
            await engine.dispose()

    return run_sync(work)


SMOKE_USER = "gate-smoke"


def _ensure_smoke_token(console_url: str, store: LocalSecrets) -> None:
    """A read-only console user and API token for the gate's console smoke checks."""
    if store.values.get("GATE_CONSOLE_SMOKE_TOKEN"):
        return
    from raxx.console.apitoken import service as api_tokens
    from raxx.console.auth import repository, service

    async def work() -> str:
        from raxx.common.db import create_engine, session_factory

        engine = create_engine(console_url, application_name="raxx-up", pool_size=1)
        try:
            async with session_factory(engine)() as db, db.begin():
                if await repository.user_by_name(db, SMOKE_USER) is None:
                    # Nobody signs in as this user: a long random password nobody knows.
                    password = secrets.token_urlsafe(32)
                    await service.create_user(db, SMOKE_USER, password, dict.fromkeys(RAPTOR_ENVS, "viewer"))
                token = await api_tokens.create(
                    db,
                    user_name=SMOKE_USER,
                    name="gate smoke checks (raxx up)",
                    expires_days=None,
                    environments=RAPTOR_ENVS,  # the gate smoke-checks the console in each
                )
                return token.plaintext
        finally:
            await engine.dispose()

    store.set("GATE_CONSOLE_SMOKE_TOKEN", run_sync(work))


#: ``<data_dir>/raxx.env``: what the other ``raxx`` commands need to act on this topology.
ENV_FILE = "raxx.env"
ENV_FILE_HEADER = """\
# Written by `raxx up` at every start: what the other raxx commands need to act on this
# local topology (Raptor staging's database, the console's, the gate's ledger). Read it with
#   set -a; . {path}; set +a
# It holds database passwords and tokens: it is readable by its owner only.
"""


def env_file_values(top: Topology) -> dict[str, str]:
    """Every setting the README's commands read, for this topology (Raptor: the staging deployment)."""
    staging = top.databases.raptor["staging"]
    console = top.databases.console
    values = {
        "RAPTOR_ENVIRONMENT": "staging",
        "RAPTOR_DATABASE_URL": staging.runtime_url,
        "RAPTOR_MIGRATION_DATABASE_URL": staging.owner_url,
        "CONSOLE_DATABASE_URL": console.runtime_url,
        "CONSOLE_MIGRATION_DATABASE_URL": console.owner_url,
        "CONSOLE_ENVIRONMENTS_FILE": str(top.data_dir / "environments.toml"),
        "CONSOLE_AUDIT_SIGNING_KEY": top.store.values.get("CONSOLE_AUDIT_SIGNING_KEY", ""),
        "GATE_PLATFORM": "local",
        "GATE_TOPOLOGY_FILE": str(top.data_dir / "run" / "topology.json"),
        "GATE_POLICY_FILE": str(policy_file()),
        "GATE_AUDIT_DATABASE_URL": console.runtime_url,
        "GATE_CONSOLE_SMOKE_TOKEN": top.store.values.get("GATE_CONSOLE_SMOKE_TOKEN", ""),
    }
    if top.store.values.get("CONSOLE_AUDIT_HMAC_KEY"):  # verifies checkpoints signed before Ed25519
        values["CONSOLE_AUDIT_HMAC_KEY"] = top.store.values["CONSOLE_AUDIT_HMAC_KEY"]
    if top.databases.ledger is not None:
        values["GATE_DATABASE_URL"] = top.databases.ledger.runtime_url
        values["GATE_MIGRATION_DATABASE_URL"] = top.databases.ledger.owner_url
    return values


def write_env_file(top: Topology) -> Path:
    """``<data_dir>/raxx.env``, shell-quoted (``set -a; . FILE``) and readable by the owner only."""
    path = top.data_dir / ENV_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    lines = [f"{key}={shlex.quote(value)}\n" for key, value in env_file_values(top).items()]
    path.write_text(ENV_FILE_HEADER.format(path=path) + "".join(lines))
    (top.data_dir / "gate.env").unlink(missing_ok=True)  # its older, gate-only name
    return path


def write_registry(path: Path, options: UpOptions) -> None:
    ports = {"staging": options.staging_port, "prod": options.prod_port}
    lines = ["# Written by raxx up: the local topology's environment registry.", 'default = "staging"', ""]
    for env in RAPTOR_ENVS:
        label, color, protected = ENV_COLORS[env]
        lines += [
            f"[environments.{env}]",
            f'label = "{label}"',
            f'color = "{color}"',
            f'raptor_url = "http://{options.host}:{ports[env]}"',
            f'token_secret = "RAPTOR_TOKEN_{env.upper()}"',
            f"protected = {'true' if protected else 'false'}",
            "",
        ]
    path.write_text("\n".join(lines))


def ensure_checkpoint_key(store: LocalSecrets) -> None:
    """The console's Ed25519 checkpoint key in ``secrets.env`` (its secrets chain reads that file).

    A data directory from before Ed25519 holds an HMAC secret there: it moves to
    ``CONSOLE_AUDIT_HMAC_KEY``, where it still verifies the checkpoints it signed.
    """
    from raxx.console.audit.keys import SigningKey, is_private_key

    current = store.values.get("CONSOLE_AUDIT_SIGNING_KEY")
    if current and not is_private_key(current):
        store.set("CONSOLE_AUDIT_HMAC_KEY", current)
        current = None
    if not current:
        store.set("CONSOLE_AUDIT_SIGNING_KEY", SigningKey.generate().compact())


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
            sys.executable,
            "-m",
            "raxx",
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
    py = [sys.executable, "-m", "raxx"]
    ports = {"staging": options.staging_port, "prod": options.prod_port}
    ensure_checkpoint_key(store)
    # A person reads these lines in the terminal: readable ones, unless RAXX_LOG_FORMAT says otherwise.
    log_format = {"RAXX_LOG_FORMAT": options.environ.get("RAXX_LOG_FORMAT") or "console"}
    oidc_env: dict[str, str] = {}
    services = [
        ServiceSpec(
            name=f"raptor-{env}",
            app="raptor",
            environment=env,
            argv=[*py, "raptor", "serve", "--host", options.host, "--port", str(ports[env])],
            env={
                "RAPTOR_ENVIRONMENT": env,
                "RAPTOR_DATABASE_URL": dbs.raptor[env].runtime_url,
                "RAPTOR_MIGRATION_DATABASE_URL": dbs.raptor[env].owner_url,
                "RAPTOR_DEVELOPMENT": "true",
                **log_format,
            },
            url=f"http://{options.host}:{ports[env]}",
            release=release,
            release_var="RAPTOR_RELEASE",
            migrate=(dbs.raptor[env].owner_url, dbs.raptor[env].runtime_url, "raptor"),
        )
        for env in RAPTOR_ENVS
    ]
    if options.oidc_demo:
        provider, oidc_env = oidc_demo_service(options, store, release)
        services.append(provider)
    services.append(
        ServiceSpec(
            name="console-prod",
            app="console",
            environment="prod",
            argv=[*py, "console", "serve", "--host", options.host, "--port", str(options.console_port)],
            env={
                "CONSOLE_DATABASE_URL": dbs.console.runtime_url,
                "CONSOLE_MIGRATION_DATABASE_URL": dbs.console.owner_url,
                "CONSOLE_ENVIRONMENTS_FILE": str(data_dir / "environments.toml"),
                "CONSOLE_SECRET_KEY": store.get_or_create("CONSOLE_SECRET_KEY", lambda: secrets.token_urlsafe(48)),
                "CONSOLE_DOTENV_FILE": str(store.path),
                "CONSOLE_DEVELOPMENT": "true",
                # The releases page reads the gate's ledger (in a read-only transaction).
                **({"CONSOLE_LEDGER_DATABASE_URL": dbs.ledger.runtime_url} if dbs.ledger else {}),
                **log_format,
                **oidc_env,
            },
            url=f"http://{options.host}:{options.console_port}",
            release=release,
            release_var="CONSOLE_RELEASE",
            migrate=(dbs.console.owner_url, dbs.console.runtime_url, "console"),
        )
    )
    if options.monitor and dbs.ledger is not None:
        services.append(
            ServiceSpec(
                name="monitor",
                app="monitor",
                environment=None,
                argv=[*py, "monitor"],
                env={
                    "GATE_DATABASE_URL": dbs.ledger.runtime_url,
                    "GATE_MIGRATION_DATABASE_URL": dbs.ledger.owner_url,
                    "GATE_TOPOLOGY_FILE": str(data_dir / "run" / "topology.json"),
                    "GATE_MONITOR_INTERVAL": str(options.monitor_interval),
                    "GATE_AUDIT_DATABASE_URL": dbs.console.runtime_url,
                    "GATE_POLICY_FILE": str(policy_file()),
                    **log_format,
                },
                url=None,
                ready_path=None,
                release=release,
            )
        )
    return services


@dataclass
class Topology:
    """A prepared and started local topology (used by ``run_up`` and the end-to-end tests)."""

    options: UpOptions
    data_dir: Path
    supervisor: Supervisor
    databases: Databases
    store: LocalSecrets
    embedded: EmbeddedPostgres | None
    started_embedded: bool
    demo_password: str | None

    def url(self, service: str) -> str:
        url = self.supervisor.children[service].spec.url
        assert url is not None
        return url

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self.embedded is not None and self.started_embedded:
            self.embedded.stop()


def start_topology(options: UpOptions, *, out: Any = None) -> Topology:
    """Prepare databases, migrate, issue tokens, start every service and wait until ready."""
    data_dir = Path(options.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _check_ports(options)
    store = LocalSecrets(data_dir / "secrets.env")
    embedded: EmbeddedPostgres | None = None
    started = False
    admin_url = options.admin_url
    if admin_url is None:
        embedded = EmbeddedPostgres(data_dir / "pg")
        started = embedded.start()
        embedded.wait_ready()
        admin_url = embedded.admin_url()
    supervisor: Supervisor | None = None
    try:
        dbs = provision_all(admin_url, store, options.database_prefix, with_ledger=_gate_available())
        env = options.environ
        dbs = Databases(
            raptor={e: _override(env, f"RAPTOR_{e.upper()}_DATABASE_URL", d) or d for e, d in dbs.raptor.items()},
            console=_override(env, "CONSOLE_DATABASE_URL", dbs.console, "CONSOLE_MIGRATION_DATABASE_URL")
            or dbs.console,
            ledger=_override(env, "GATE_DATABASE_URL", dbs.ledger, "GATE_MIGRATION_DATABASE_URL"),
        )
        for e, db in dbs.raptor.items():
            migrate_tree("raptor", db.owner_url, db.runtime_url)
            _issue_raptor_token(store, e, db)
        migrate_tree("console", dbs.console.owner_url, dbs.console.runtime_url)
        if dbs.ledger is not None:
            migrate_tree("ledger", dbs.ledger.owner_url, dbs.ledger.runtime_url)
        demo_password = _ensure_demo_user(
            dbs.console.owner_url, env.get("RAXX_DEMO_PASSWORD"), break_glass=options.oidc_demo
        )
        _ensure_smoke_token(dbs.console.owner_url, store)
        write_registry(data_dir / "environments.toml", options)
        (data_dir / "logs").mkdir(exist_ok=True)
        supervisor = Supervisor(data_dir / "run", out=out, log_dir=data_dir / "logs")
        supervisor.migrator = migrate_tree
        kept = supervisor.resume()
        for spec in build_services(options, data_dir, dbs, store, current_release()):
            spec.release = kept.get(spec.name, spec.release)
            supervisor.add(spec)
        supervisor.start_all()
    except BaseException:
        if supervisor is not None:
            supervisor.stop_all()
        if embedded is not None and started:
            embedded.stop()
        raise
    top = Topology(options, data_dir, supervisor, dbs, store, embedded, started, demo_password)
    write_env_file(top)
    return top


def _print_summary(top: Topology, elapsed: float) -> None:
    say = top.supervisor.say
    pg = f"embedded PostgreSQL on 127.0.0.1:{top.embedded.port}" if top.embedded else "PostgreSQL from the given URLs"
    say("")
    say(f"Raxx is up in {elapsed:.1f} s  (data: {top.data_dir}, {pg})")
    say(f"  {'service':<16}{'url':<28}release")
    for name, child in top.supervisor.children.items():
        url = child.spec.url or f"(polls every {top.options.monitor_interval:g} s)"
        say(f"  {name:<16}{url:<28}{child.spec.release}")
    say("")
    console = top.url("console-prod")
    if top.demo_password:
        say(f"  Sign in at {console}/login as {DEMO_USER} / {top.demo_password}")
        if not top.options.environ.get("RAXX_DEMO_PASSWORD"):
            say("  (this generated password is shown once; reset it with: raxx console user passwd demo)")
    else:
        say(f"  Sign in at {console}/login as {DEMO_USER} (password set at first start, or RAXX_DEMO_PASSWORD)")
    if top.options.oidc_demo:
        password = oidc_demo_password(top.options, top.store)
        say(f"  Single sign-on: 'Sign in with the demo identity provider' at {console}/login, then")
        say(f"    stella / {password}  (staging operator)   or   paul / {password}  (prod operator)")
        say(f"  ({DEMO_USER} is a break-glass account now: each password sign-in is audited and alerts)")
    activate = Path(sys.prefix) / "bin" / "activate"
    venv = f". {activate}; " if activate.exists() else ""
    say(f"  Other commands on it, in another shell: {venv}set -a; . {top.data_dir / ENV_FILE}; set +a; raxx --help")
    say("  Ctrl-C stops everything.")
    say("")


def run_up(options: UpOptions) -> int:
    started_at = time.monotonic()

    def _on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops everything exactly like Ctrl-C

    signal.signal(signal.SIGTERM, _on_signal)
    try:
        top = start_topology(options)
    except KeyboardInterrupt:
        print("raxx up: interrupted while starting; everything started was stopped", file=sys.stderr)
        return 130
    _print_summary(top, time.monotonic() - started_at)
    try:
        top.supervisor.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        top.supervisor.say("stopping: " + ", ".join(reversed(list(top.supervisor.children))))
        top.stop()
        top.supervisor.say("stopped; no process left behind")
    return 0


__all__ = ["Topology", "Unavailable", "UpOptions", "run_up", "start_topology"]
