"""``raxx console ...``: serve the console and manage its operators.

Every command that changes state declares its audit action (``@audited_command``) and runs
through :func:`run_audited`: the attempt is committed before its transaction starts (if it
cannot be, nothing happens), the outcome after it ends, with the same action names and
parameters as the console's pages. The others declare ``@unaudited(reason)`` and read in a
read-only transaction (:func:`run_in_db`).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import click

from raxx.common.actions import CHANGE_ROLE, CREATE_TOKEN, CREATE_USER, REVOKE_TOKEN, SET_PASSWORD
from raxx.common.cliparams import ENVIRONMENT, LINE, PORT
from raxx.common.errors import ConfigError
from raxx.console.audit.cli import audited_command, unaudited

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from raxx.console.actions import ActionCall
    from raxx.console.audit.events import ActionScope

T = TypeVar("T")

database_option = click.option(
    "--database-url", envvar="CONSOLE_DATABASE_URL", help="console database (default: CONSOLE_DATABASE_URL)"
)


@click.group()
def console() -> None:
    """The operator console (one deployment, an environment switcher)."""


@unaudited("serves the console: its routes audit every change (AuditedRoute)")
@console.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, envvar="PORT", default=8000, show_default=True)
@click.option("--proxy-headers/--no-proxy-headers", default=False, help="trust X-Forwarded-* (behind a router)")
def serve(host: str, port: int, proxy_headers: bool) -> None:
    """Serve the console; settings come from CONSOLE_* variables."""
    from raxx.common.asgi import run_server
    from raxx.common.logging import configure_logging
    from raxx.common.settings import load_settings
    from raxx.console.app import create_app
    from raxx.console.config import ConsoleSettings

    settings = load_settings(ConsoleSettings)
    configure_logging(settings.log_level)
    app = create_app(settings)
    # Everything imported and built so far lives as long as the process: keep it out of the
    # cyclic GC's full collections, which otherwise walk it all (measured: one ~90 ms pause
    # in 300 environment switches, bench/README.md "Console").
    gc.freeze()
    run_server(app, host=host, port=port, proxy_headers=proxy_headers)


@unaudited("serves a demo identity provider; the console database is not touched")
@console.command("oidc-demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8103, show_default=True)
@click.option("--client-id", default="raxx-console", show_default=True)
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, required=True, help="the console's callback (repeatable)"
)
def oidc_demo(host: str, port: int, client_id: str, redirect_uris: tuple[str, ...]) -> None:
    """Serve the demo OpenID provider (raxx up --oidc-demo): users stella (staging operator) and
    paul (prod operator). Secrets come from RAXX_OIDC_DEMO_CLIENT_SECRET and RAXX_OIDC_DEMO_PASSWORD."""
    from raxx.common.asgi import run_server
    from raxx.console.auth.demo_provider import DemoClient, DemoProvider, demo_users

    secret, password = os.environ.get("RAXX_OIDC_DEMO_CLIENT_SECRET"), os.environ.get("RAXX_OIDC_DEMO_PASSWORD")
    if not secret or not password:
        raise ConfigError("RAXX_OIDC_DEMO_CLIENT_SECRET and RAXX_OIDC_DEMO_PASSWORD must be set")
    provider = DemoProvider(
        f"http://{host}:{port}",
        users=demo_users(password),
        clients=[DemoClient(client_id, secret, redirect_uris)],
    )
    run_server(provider.app(), host=host, port=port, proxy_headers=False)


def _on_engine(database_url: str | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on the console database (CLI commands)."""
    from raxx.common.aio import run_sync
    from raxx.common.db import create_engine
    from raxx.common.settings import one_off_pool

    if not database_url:
        raise ConfigError("CONSOLE_DATABASE_URL is required but not set (or pass --database-url)")

    async def _run() -> T:
        engine = create_engine(database_url, application_name="raxx-cli", pool_size=one_off_pool("raxx console"))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return run_sync(_run)


def run_in_db(database_url: str | None, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one read-only transaction against the console database: a command that
    changes state goes through :func:`run_audited`."""
    from sqlalchemy import text

    from raxx.common.db import session_factory

    async def read(engine: AsyncEngine) -> T:
        async with session_factory(engine)() as db, db.begin():
            await db.execute(text("SET TRANSACTION READ ONLY"))
            return await work(db)

    return _on_engine(database_url, read)


def run_audited(
    database_url: str | None, action: ActionCall, work: Callable[[AsyncSession, ActionScope], Awaitable[T]]
) -> T:
    """Run ``work`` in one transaction inside ``action``'s audit record: the attempt committed
    first (if it cannot be, ``work`` never runs), the outcome once the transaction has ended
    (committed, or rolled back by the exception the outcome describes). The running command
    must declare the action (``@audited_command``)."""
    from raxx.common.db import session_factory
    from raxx.console.actions import perform_from_cli
    from raxx.console.audit.cli import check_declared
    from raxx.console.audit.service import AuditTrail

    check_declared(action.action)

    async def audited(engine: AsyncEngine) -> T:
        async with engine.connect():  # a URL that cannot connect is raxx.exits' line naming it, not an audit failure
            pass

        async def transaction(scope: ActionScope) -> T:
            async with session_factory(engine)() as db, db.begin():
                return await work(db, scope)

        return await perform_from_cli(AuditTrail(engine), action, transaction)

    return _on_engine(database_url, audited)


def _refuse(database_url: str | None, action: ActionCall, reason: str) -> click.UsageError:
    """Record ``action`` as refused (attempt, then outcome ``denied``); the usage error to raise."""

    async def deny(db: AsyncSession, scope: ActionScope) -> None:
        scope.set("denied", error=reason)

    run_audited(database_url, action, deny)
    return click.UsageError(reason)


def _one(environments: Sequence[str]) -> str | None:
    """The environment an action is recorded in: the one it concerns, if it concerns one."""
    return environments[0] if len(environments) == 1 else None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    env_password = os.environ.get("RAXX_NEW_PASSWORD")
    if env_password:
        return env_password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _registry_names() -> list[str]:
    from raxx.common.environments import EnvironmentRegistry, registry_file

    return list(EnvironmentRegistry.from_toml(registry_file()))


@console.group()
def user() -> None:
    """Operators and their per-environment roles."""


@audited_command(CREATE_USER)
@user.command("add")
@click.argument("name", type=LINE)
@click.option("--role", type=click.Choice(["viewer", "operator", "admin", "auditor"]), help="with --env")
@click.option(
    "--env",
    "envs",
    type=ENVIRONMENT,
    multiple=True,
    help="environment to grant --role in (repeatable); without it the user holds no role anywhere",
)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option(
    "--break-glass",
    is_flag=True,
    help="may sign in with this password while single sign-on is on (each use is audited and alerts)",
)
@database_option
def user_add(
    name: str,
    role: str | None,
    envs: tuple[str, ...],
    password_stdin: bool,
    break_glass: bool,
    database_url: str | None,
) -> None:
    """Add an operator with a password. A new user holds no role until one is granted in a
    named environment (never in prod, or anywhere, by default).

    With single sign-on (CONSOLE_OIDC_ISSUER) operators appear at their first sign-in and
    passwords only work for --break-glass accounts.
    """
    from raxx.console.actions import ActionCall
    from raxx.console.auth import service

    if bool(role) != bool(envs):
        raise click.UsageError("--role and --env go together: name the role and each environment it is granted in")
    password = _read_password(password_stdin)
    roles = dict.fromkeys(envs, role or "")
    action = ActionCall(CREATE_USER, _one(envs), target=name, params={"roles": roles, "break_glass": break_glass})
    run_audited(
        database_url, action, lambda db, _: service.create_user(db, name, password, roles, break_glass=break_glass)
    )
    kind = " (break-glass)" if break_glass else ""
    if envs:
        click.echo(f"added {name}{kind}: {role} in {', '.join(envs)}")
    else:
        click.echo(f"added {name}{kind} with no role; grant one: raxx console user grant {name} --env ENV --role ROLE")


@unaudited("reads")
@user.command("list")
@database_option
def user_list(database_url: str | None) -> None:
    """Every operator and the role held in each environment (- : none there)."""
    from raxx.console.auth import repository

    rows = run_in_db(database_url, repository.users_with_roles)
    envs = _registry_names()
    envs += sorted({env for _, roles in rows for env in roles} - set(envs))  # held in an environment since removed
    click.echo(f"{'user':<24}" + "".join(f"{env:<12}" for env in envs) + "state")
    for user_row, roles in rows:
        state = "disabled" if user_row.disabled_at else "active"
        click.echo(f"{user_row.name:<24}" + "".join(f"{roles.get(env, '-'):<12}" for env in envs) + state)


@audited_command(CHANGE_ROLE)
@user.command("grant")
@click.argument("name", type=LINE)
@click.option("--env", "environment", type=ENVIRONMENT, required=True)
@click.option("--role", required=True, type=click.Choice(["viewer", "operator", "admin", "auditor"]))
@database_option
def user_grant(name: str, environment: str, role: str, database_url: str | None) -> None:
    """Give NAME a role in one environment (replaces the role held there)."""
    from raxx.common.environments import validate_env_name
    from raxx.console.actions import ActionCall
    from raxx.console.auth import service

    env = validate_env_name(environment)
    action = ActionCall(CHANGE_ROLE, env, target=name, params={"role": role})
    _change_role(database_url, action, lambda db: service.grant(db, name, env, role))
    click.echo(f"{name} is {role} in {env}")


@audited_command(CHANGE_ROLE)
@user.command("revoke")
@click.argument("name", type=LINE)
@click.option(
    "--env", "environment", required=True, help="any environment, also one the registry no longer names", type=LINE
)
@database_option
def user_revoke(name: str, environment: str, database_url: str | None) -> None:
    """Remove NAME's role in one environment."""
    from raxx.console.actions import ActionCall
    from raxx.console.auth import service
    from raxx.console.auth.roles import NO_ROLE

    known = environment in _registry_names()
    # As the users page records it; an environment the registry no longer names stays in params.
    params = {"role": NO_ROLE} if known else {"role": NO_ROLE, "environment": environment}
    action = ActionCall(CHANGE_ROLE, environment if known else None, target=name, params=params)
    _change_role(database_url, action, lambda db: service.revoke_role(db, name, environment))
    click.echo(f"{name} holds no role in {environment} any more")


def _change_role(
    database_url: str | None, action: ActionCall, change: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    """``user.role.change`` as the users page records it: the role in its outcome too."""

    async def work(db: AsyncSession, scope: ActionScope) -> None:
        await change(db)
        scope.set(role=action.params["role"])

    run_audited(database_url, action, work)


@audited_command(SET_PASSWORD)
@user.command("passwd")
@click.argument("name", type=LINE)
@click.option("--password-stdin", is_flag=True)
@database_option
def user_passwd(name: str, password_stdin: bool, database_url: str | None) -> None:
    """Set NAME's password; their sessions are revoked."""
    from raxx.console.actions import ActionCall
    from raxx.console.auth import service

    password = _read_password(password_stdin)
    run_audited(
        database_url,
        ActionCall(SET_PASSWORD, None, target=name),
        lambda db, _: service.set_password(db, name, password),
    )
    click.echo(f"password of {name} changed; their sessions were ended")


@console.group()
def token() -> None:
    """Personal API tokens for the console's JSON API (/api/ENV/...)."""


@audited_command(CREATE_TOKEN)
@token.command("create")
@click.argument("name", type=LINE)
@click.option("--user", "user_name", required=True, help="the operator the token acts as (with their roles)", type=LINE)
@click.option(
    "--env",
    "envs",
    type=ENVIRONMENT,
    multiple=True,
    help="an environment the token acts in (repeatable; default: the registry's default, staging)",
)
@click.option(
    "--confirm", "confirmed", multiple=True, help="type each protected environment's name again (e.g. --confirm prod)"
)
@click.option("--expires-days", type=click.IntRange(1, 366), default=None, help="default: never expires")
@database_option
def token_create(
    name: str,
    user_name: str,
    envs: tuple[str, ...],
    confirmed: tuple[str, ...],
    expires_days: int | None,
    database_url: str | None,
) -> None:
    """Create a token acting only in the named environments; it is printed once, and only its
    hash is stored. A protected environment (prod) is never a default and needs --confirm."""
    from raxx.common.environments import EnvironmentRegistry, registry_file
    from raxx.console.actions import ActionCall
    from raxx.console.apitoken import service

    registry = EnvironmentRegistry.from_toml(registry_file())
    scope = list(dict.fromkeys(envs)) or [registry.default]
    # The page's parameters (token_environment, redacted by the trail's "token" rule), and what
    # only the command line chooses: whose token it is, and its whole scope.
    params = {
        "expires_days": expires_days,
        "token_environment": ",".join(scope),
        "user": user_name,
        "environments": scope,
    }
    action = ActionCall(CREATE_TOKEN, _one(scope), target=name, params=params)
    unconfirmed = [e for e in scope if registry[e].protected and e not in confirmed]
    if unconfirmed:
        raise _refuse(
            database_url, action, f"{', '.join(unconfirmed)} is protected: add --confirm {unconfirmed[0]} to allow it"
        )

    async def work(db: AsyncSession, recorded: ActionScope) -> service.NewToken:
        made = await service.create(db, user_name=user_name, name=name, expires_days=expires_days, environments=scope)
        recorded.set(token_id=made.token_id)  # never the plaintext
        return made

    created = run_audited(database_url, action, work)
    expiry = created.expires_at.date().isoformat() if created.expires_at else "never"
    click.echo(f"token {created.token_id} for {created.user_name} ({name}), expires {expiry}", err=True)
    click.echo(f"it is shown once; it acts with the user's role only in: {', '.join(created.environments)}", err=True)
    click.echo(created.plaintext)


@unaudited("reads")
@token.command("list")
@click.option("--user", "user_name", default=None, help="only this operator's tokens", type=LINE)
@database_option
def token_list(user_name: str | None, database_url: str | None) -> None:
    """List tokens (never their secrets)."""
    from raxx.console.apitoken import repository

    rows = run_in_db(database_url, repository.all_with_users)
    click.echo(f"{'id':<18}{'user':<16}{'name':<28}{'acts in':<16}{'created':<12}{'expires':<12}state")
    for tok, owner in rows:
        if user_name and owner != user_name:
            continue
        state = "revoked" if tok.revoked_at else "live"
        expires = tok.expires_at.date().isoformat() if tok.expires_at else "never"
        click.echo(
            f"{tok.token_id:<18}{owner:<16}{tok.name[:27]:<28}{','.join(tok.environments)[:15]:<16}"
            f"{tok.created_at.date().isoformat():<12}{expires:<12}{state}"
        )


@audited_command(REVOKE_TOKEN)
@token.command("revoke")
@click.argument("token_id", type=LINE)
@database_option
def token_revoke(token_id: str, database_url: str | None) -> None:
    """Revoke a token by its id (the part after rxc_). Running consoles refuse it within seconds."""
    from raxx.console.actions import ActionCall
    from raxx.console.apitoken import repository, service

    acts_in = run_in_db(database_url, lambda db: repository.environments_of(db, token_id))
    action = ActionCall(REVOKE_TOKEN, _one(acts_in), target=token_id)
    run_audited(database_url, action, lambda db, _: service.revoke(db, token_id))
    click.echo(f"token {token_id} revoked")
