"""``raxx console user ...``: operators and their per-environment roles, each change audited
as the users page records it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from raxx.common.actions import CHANGE_ROLE, CREATE_USER, SET_PASSWORD
from raxx.common.cliparams import ENVIRONMENT, LINE
from raxx.console.audit.cli import audited_command, unaudited
from raxx.console.auth.names import USER_NAME
from raxx.console.auth.roles import ROLE_NAMES
from raxx.console.command_runner import (
    database_option,
    one_environment,
    read_password,
    registry_names,
    run_audited,
    run_in_db,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from raxx.console.actions import ActionCall
    from raxx.console.audit.events import ActionScope


@click.group()
def user() -> None:
    """Operators and their per-environment roles."""


@audited_command(CREATE_USER)
@user.command("add")
@click.argument("name", type=USER_NAME)
@click.option("--role", type=click.Choice(ROLE_NAMES), help="with --env")
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
    password = read_password(password_stdin)
    roles = dict.fromkeys(envs, role or "")
    action = ActionCall(
        CREATE_USER, one_environment(envs), target=name, params={"roles": roles, "break_glass": break_glass}
    )
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
    envs = registry_names()
    envs += sorted({env for _, roles in rows for env in roles} - set(envs))  # held in an environment since removed
    click.echo(f"{'user':<24}" + "".join(f"{env:<12}" for env in envs) + "state")
    for user_row, roles in rows:
        state = "disabled" if user_row.disabled_at else "active"
        click.echo(f"{user_row.name:<24}" + "".join(f"{roles.get(env, '-'):<12}" for env in envs) + state)


@audited_command(CHANGE_ROLE)
@user.command("grant")
@click.argument("name", type=LINE)
@click.option("--env", "environment", type=ENVIRONMENT, required=True)
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES))
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

    known = environment in registry_names()
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

    password = read_password(password_stdin)
    run_audited(
        database_url,
        ActionCall(SET_PASSWORD, None, target=name),
        lambda db, _: service.set_password(db, name, password),
    )
    click.echo(f"password of {name} changed; their sessions were ended")
