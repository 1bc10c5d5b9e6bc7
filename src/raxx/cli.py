"""The ``raxx`` command tree. Thin: parse, call one function, render, exit.

Each area owns its command group (``raxx.raptor.commands``, ``raxx.console.commands``,
``raxx.gate.commands``); this module only assembles them and turns typed refusals
into one line on stderr and their exit code.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from raxx.common.errors import RaxxError


class RaxxGroup(click.Group):
    """Runs commands so that an expected refusal prints one line, never a trace."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RaxxError as exc:
            click.echo(f"raxx: {exc.detail}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=RaxxGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Raxx: the Raptor trading API, its operator console and the release gate."""


@cli.command()
@click.argument("tree", type=click.Choice(["raptor", "console", "ledger"]))
@click.option("--database-url", envvar="RAXX_MIGRATE_DATABASE_URL", help="owner-role URL (default: the app's settings)")
@click.option("--runtime-url", help="the runtime role's URL, to grant it its privileges")
def migrate(tree: str, database_url: str | None, runtime_url: str | None) -> None:
    """Run one database's migrations to head (the release step)."""
    from raxx.common.migrations import upgrade
    from raxx.migrate import migration_urls

    owner_url, runtime = migration_urls(tree, database_url, runtime_url)
    upgrade(tree, owner_url, runtime_url=runtime)
    click.echo(f"{tree}: migrated to head")


@cli.command()
@click.option("--data-dir", type=click.Path(), default=".raxx", show_default=True)
@click.option("--console-port", type=int, default=8000, show_default=True)
@click.option("--staging-port", type=int, default=8101, show_default=True)
@click.option("--prod-port", type=int, default=8102, show_default=True)
@click.option("--no-monitor", is_flag=True, help="do not start the health monitor")
def up(data_dir: str, console_port: int, staging_port: int, prod_port: int, no_monitor: bool) -> None:
    """Start the whole local topology on an embedded PostgreSQL; Ctrl-C stops it."""
    from raxx.up import UpOptions, run_up

    sys.exit(
        run_up(
            UpOptions(
                data_dir=data_dir,
                console_port=console_port,
                staging_port=staging_port,
                prod_port=prod_port,
                monitor=not no_monitor,
            )
        )
    )


def _register_groups() -> None:
    from raxx.console.commands import console
    from raxx.gate.commands import gate, monitor
    from raxx.raptor.commands import raptor

    cli.add_command(raptor)
    cli.add_command(console)
    cli.add_command(gate)
    cli.add_command(monitor)


def main() -> None:
    _register_groups()
    cli(prog_name="raxx")
