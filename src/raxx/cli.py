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


@cli.command()
@click.option("--host", default="0.0.0.0", envvar="RAXX_WEB_HOST", show_default=True)  # noqa: S104 - a dyno
@click.option("--port", type=int, envvar="PORT", default=8000, show_default=True, help="default: $PORT")
@click.option("--workers", type=int, envvar="WEB_CONCURRENCY", default=1, show_default=True)
def web(host: str, port: int, workers: int) -> None:
    """Serve the app named by RAXX_APP (raptor or console): the Procfile's web process."""
    from raxx.runtime import serve_web

    serve_web(host=host, port=port, workers=workers)


@cli.command()
def release() -> None:
    """Run the migrations of the app named by RAXX_APP: the Procfile's release phase."""
    from raxx.common.logging import configure_logging
    from raxx.runtime import run_release

    configure_logging("INFO")  # its start-up lines (the connections it may hold) go to stderr
    click.echo(run_release())


@cli.group()
def secrets() -> None:
    """The secrets each app needs, and where they come from (names only, never values)."""


@secrets.command("check")
@click.option("--app", "app_name", type=click.Choice(["raptor", "console", "gate"]), required=True)
@click.option("--env", "environment", help="the environment (Infisical slug) to check, e.g. staging or prod")
@click.option("--json", "as_json", is_flag=True)
def secrets_check(app_name: str, environment: str | None, as_json: bool) -> None:
    """List APP's required keys as present or missing; exit 78 when one is missing."""
    import json

    from raxx.common.errors import ConfigError
    from raxx.runtime import secrets_report

    report = secrets_report(app_name, environment)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_secrets_report(report)
    if not report.ok:
        sys.exit(ConfigError.exit_code)


def _print_secrets_report(report: Any) -> None:
    where = f" ({report.environment})" if report.environment else ""
    click.echo(f"{report.app}{where}: looked in {report.sources}")
    width = max((len(s.key) for s in report.statuses), default=10)
    for status in report.statuses:
        state = "present" if status.present else "MISSING"
        click.echo(f"  {status.key:<{width}}  {state:<8} {status.source or '-':<12} {status.purpose}")
    for note in report.notes:
        click.echo(f"note: {note}")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    missing = sum(not s.present for s in report.statuses)
    click.echo("ok" if report.ok else f"not ok: {missing} missing, {len(report.problems)} problem(s)")


def _register_groups() -> None:
    from raxx.console.audit.commands import audit
    from raxx.console.commands import console
    from raxx.gate.commands import gate, monitor
    from raxx.gate.heroku_commands import heroku
    from raxx.raptor.commands import raptor

    cli.add_command(raptor)
    cli.add_command(console)
    cli.add_command(gate)
    cli.add_command(monitor)
    cli.add_command(audit)
    cli.add_command(heroku)


def main() -> None:
    _register_groups()
    cli(prog_name="raxx")
