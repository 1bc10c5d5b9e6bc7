"""What every ``raxx audit`` command shares: its options, the engine it runs on, secrets,
checkpoint keys and who acts. Light at import (``raxx --help`` loads the commands): the
audit machinery is imported by the functions that use it.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from raxx.common.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from raxx.common.secrets import ChainSecrets
    from raxx.console.audit.checkpoint import CheckpointKeys
    from raxx.console.audit.events import AuditContext

T = TypeVar("T")

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


def run(url: str | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on the console database (an unreachable one: ``raxx.exits``, 69)."""
    import asyncio

    from raxx.common.db import create_engine
    from raxx.common.settings import one_off_pool

    if not url:
        raise ConfigError("CONSOLE_DATABASE_URL is required but not set (or pass --database-url)")

    async def main() -> T:
        engine = create_engine(url, application_name="raxx-audit-cli", pool_size=one_off_pool("raxx audit"))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def secrets(env_file: Path) -> ChainSecrets:
    from raxx.common.secrets import ChainSecrets, DotenvSecrets, EnvironSecrets

    return ChainSecrets([DotenvSecrets(env_file), EnvironSecrets()])


def audit_keys(env_file: Path) -> CheckpointKeys:
    from raxx.console.audit.checkpoint import checkpoint_keys

    return checkpoint_keys(secrets(env_file))


def cli_context() -> AuditContext:
    """Who acts when a person runs ``raxx audit``: the operating-system user, no environment."""
    from raxx.common.storable import one_line_variable
    from raxx.console.audit.events import AuditContext

    # getpass reads LOGNAME, USER, LNAME or USERNAME before the password database: the
    # environment's word, which the audit trail keeps, so it is held to the one-line rule.
    login = one_line_variable("the login name (LOGNAME, USER, LNAME or USERNAME)", getpass.getuser())
    return AuditContext(actor_name=f"cli:{login}", user_agent="raxx-cli")
