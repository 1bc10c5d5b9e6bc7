"""Databases, secrets and first accounts of the local topology: made once, reused at every start."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raxx.common.aio import run_sync
from raxx.common.migrations import heads_at, upgrade
from raxx.common.provision import ProvisionedDatabase, provision_database
from raxx.common.secrets import DotenvSecrets, write_dotenv
from raxx.local.options import RAPTOR_ENVS

DEMO_USER = "demo"
SMOKE_USER = "gate-smoke"


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


def override(
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


def with_overrides(dbs: Databases, environ: dict[str, str]) -> Databases:
    """The provisioned databases, each replaced by the one its ``*_DATABASE_URL`` names, if given."""
    return Databases(
        raptor={e: override(environ, f"RAPTOR_{e.upper()}_DATABASE_URL", d) or d for e, d in dbs.raptor.items()},
        console=override(environ, "CONSOLE_DATABASE_URL", dbs.console, "CONSOLE_MIGRATION_DATABASE_URL") or dbs.console,
        ledger=override(environ, "GATE_DATABASE_URL", dbs.ledger, "GATE_MIGRATION_DATABASE_URL"),
    )


def migrate_tree(tree: str, owner_url: str, runtime_url: str) -> bool:
    """Run migrations; return whether any revision was applied."""
    before = heads_at(owner_url)
    upgrade(tree, owner_url, runtime_url=runtime_url)
    return heads_at(owner_url) != before


def issue_raptor_token(store: LocalSecrets, env: str, db: ProvisionedDatabase) -> None:
    key = f"RAPTOR_TOKEN_{env.upper()}"
    if store.values.get(key):
        return
    from raxx.raptor.token.format import SCOPES
    from raxx.raptor.token.service import issue_token_sync

    store.set(
        key,
        issue_token_sync(db.runtime_url, environment=env, scopes=list(SCOPES), name="console (raxx up)"),
    )


def migrate_all(dbs: Databases, store: LocalSecrets) -> None:
    """Every tree to head (a release step), and the console's token for each Raptor deployment."""
    for env, db in dbs.raptor.items():
        migrate_tree("raptor", db.owner_url, db.runtime_url)
        issue_raptor_token(store, env, db)
    migrate_tree("console", dbs.console.owner_url, dbs.console.runtime_url)
    if dbs.ledger is not None:
        migrate_tree("ledger", dbs.ledger.owner_url, dbs.ledger.runtime_url)


def ensure_demo_user(console_url: str, password: str | None, *, break_glass: bool = False) -> str | None:
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


def ensure_smoke_token(console_url: str, store: LocalSecrets) -> None:
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
