"""What every ``raxx audit`` command shares: its options, the engine it runs on, secrets,
checkpoint keys and who acts; and how a ``raxx console`` command declares its audit action.
Light at import (``raxx --help`` loads the commands): the
audit machinery is imported by the functions that use it.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from raxx.common.actions import Action
from raxx.common.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from raxx.common.secrets import ChainSecrets
    from raxx.console.audit.checkpoint import CheckpointKeys
    from raxx.console.audit.events import AuditContext

T = TypeVar("T")
C = TypeVar("C", bound=click.Command)
#: The attribute of a click command holding its audit declaration.
AUDIT_MARK = "raxx_audit"

database_option = click.option(
    "--database-url", envvar="CONSOLE_DATABASE_URL", help="console database URL [env: CONSOLE_DATABASE_URL]"
)
env_file_option = click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".env"),
    show_default=True,
    help="development .env file consulted for secrets before the process environment",
)


def run(url: str | None, work: Callable[[AsyncEngine], Awaitable[T]], *, command: str = "raxx audit") -> T:
    """Run ``work`` with an engine on the console database, sized for a one-off ``command``
    (an unreachable database: ``raxx.exits``, 69)."""
    from raxx.common.aio import run_sync
    from raxx.common.db import create_engine
    from raxx.common.settings import one_off_pool

    if not url:
        raise ConfigError("CONSOLE_DATABASE_URL is required but not set (or pass --database-url)")

    async def main() -> T:
        name = f"{command.replace(' ', '-')}-cli"
        engine = create_engine(url, application_name=name, pool_size=one_off_pool(command))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return run_sync(main)


def secrets(env_file: Path) -> ChainSecrets:
    """On a console dyno, the console's own chain (Infisical first: the Raptor tokens and the
    checkpoint key live there, as ``raxx web`` reads them); elsewhere ``env_file``, then the
    environment."""
    from raxx.common.errors import Unavailable
    from raxx.common.secrets import DYNO_SECRETS, ChainSecrets, DotenvSecrets, EnvironSecrets

    try:
        deployed = DYNO_SECRETS.get()
    except Unavailable as exc:  # Infisical down: what config vars hold still verifies with --public-key
        click.echo(f"raxx: warning: {exc.detail}; reading secrets from config vars only", err=True)
        deployed = None
    if deployed is not None:
        return deployed
    return ChainSecrets([DotenvSecrets(env_file), EnvironSecrets()])


def audit_keys(env_file: Path) -> CheckpointKeys:
    from raxx.console.audit.checkpoint import checkpoint_keys

    return checkpoint_keys(secrets(env_file))


def cli_context(environment: str | None = None) -> AuditContext:
    """Who acts when a person runs ``raxx audit`` or ``raxx console``: the operating-system
    user, in ``environment`` when the action concerns one."""
    from raxx.common.storable import one_line_variable
    from raxx.console.audit.events import AuditContext

    # getpass reads LOGNAME, USER, LNAME or USERNAME before the password database: the
    # environment's word, which the audit trail keeps, so it is held to the one-line rule.
    login = one_line_variable("the login name (LOGNAME, USER, LNAME or USERNAME)", getpass.getuser())
    return AuditContext(actor_name=f"cli:{login}", user_agent="raxx-cli", environment=environment)


def audited_command(action: Action) -> Callable[[C], C]:
    """Declare that a command changes state as ``action`` (put it above ``@group.command``).
    ``raxx console``'s runner records only declared actions (:func:`check_declared`), and
    ``tests/console/test_cli_audit.py`` walks the group: every command declares this or
    :func:`unaudited`."""

    def mark(command: C) -> C:
        setattr(command, AUDIT_MARK, action)
        return command

    return mark


def unaudited(reason: str) -> Callable[[C], C]:
    """Declare that a command changes no state of its own, and why (its database reads run in a
    read-only transaction; a server's routes audit themselves)."""

    def mark(command: C) -> C:
        setattr(command, AUDIT_MARK, reason)
        return command

    return mark


def declaration_of(command: click.Command) -> Action | str | None:
    """What a command declared: its :class:`Action`, the reason it is unaudited, or None."""
    declared = getattr(command, AUDIT_MARK, None)
    return declared if isinstance(declared, Action | str) else None


def check_declared(action: Action) -> None:
    """Refuse (a bug, exit 70) to record ``action`` for a command that did not declare it."""
    command = click.get_current_context().command
    if declaration_of(command) != action:
        raise RuntimeError(f"{command.name} records {action.name} without @audited_command({action.name})")
