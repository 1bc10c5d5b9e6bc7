"""How a ``raxx console`` command reaches the console database: :func:`run_audited` for one
that changes state (inside its audit record, as the pages' actions are), :func:`run_in_db`
for one that reads (a read-only transaction)."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from raxx.console.actions import ActionCall
    from raxx.console.audit.events import ActionScope

T = TypeVar("T")

database_option = click.option(
    "--database-url", envvar="CONSOLE_DATABASE_URL", help="console database (default: CONSOLE_DATABASE_URL)"
)


def _on_engine(database_url: str | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with an engine on the console database, as ``raxx audit`` does."""
    from raxx.console.audit.cli import run

    return run(database_url, work, command="raxx console")


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


def refused(database_url: str | None, action: ActionCall, reason: str) -> click.UsageError:
    """Record ``action`` as refused (attempt, then outcome ``denied``); the usage error to raise."""

    async def deny(db: AsyncSession, scope: ActionScope) -> None:
        scope.set("denied", error=reason)

    run_audited(database_url, action, deny)
    return click.UsageError(reason)


def one_environment(environments: Sequence[str]) -> str | None:
    """The environment an action is recorded in: the one it concerns, if it concerns one."""
    return environments[0] if len(environments) == 1 else None


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    env_password = os.environ.get("RAXX_NEW_PASSWORD")
    if env_password:
        return env_password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def registry_names() -> list[str]:
    from raxx.common.environments import EnvironmentRegistry, registry_file

    return list(EnvironmentRegistry.from_toml(registry_file()))
