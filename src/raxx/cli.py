"""The ``raxx`` command tree. Thin: parse, call one function, render, exit.

Each area owns its command group (``raxx.raptor.commands``, ``raxx.console.commands``,
``raxx.gate.commands``, ...). This module assembles them lazily (a group's module is
imported only when that group runs or its help is shown) and, in ``RaxxGroup.invoke``,
turns every failure into one line on stderr and an exit code (``raxx.exits``).
Keep imports here and in the area command modules light: ``raxx --help`` loads them all.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

import click

from raxx.common.cliparams import PORT
from raxx.exits import EXIT_CODES, Exit, explain

#: The area groups, by name: ``module:attribute``, imported on first use.
LAZY_COMMANDS = {
    "raptor": "raxx.raptor.commands:raptor",
    "console": "raxx.console.commands:console",
    "audit": "raxx.console.audit.commands:audit",
    "gate": "raxx.gate.commands:gate",
    "monitor": "raxx.gate.monitor_command:monitor",
    "heroku": "raxx.gate.heroku_commands:heroku",
}


class RaxxGroup(click.Group):
    """The root group: loads area groups on demand; answers failures with one line, never a trace."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        if sys.stdout is None:  # started with stdout closed (`>&-`): refuse before doing anything
            click.echo("raxx: standard output is closed; nothing was done", err=True)
            sys.exit(Exit.IO)
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
            return result
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _drop_stdout()
            sys.exit(Exit.CLOSED_PIPE)
        except (Exception, KeyboardInterrupt) as exc:
            failure = explain(exc, group=ctx.invoked_subcommand)
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exception(exc)
            click.echo(f"raxx: {failure.line}", err=True)
            sys.exit(failure.code)


def _drop_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from raxx.common.release import current_release

    click.echo(f"raxx {version('raxx')} (release {current_release()})")
    ctx.exit()


def _exit_codes_epilog() -> str:
    """The exit codes in one paragraph, from ``raxx.exits.EXIT_CODES`` (the README has the details)."""
    labels = (f"{code} {re.split(r'[:(]', meaning, maxsplit=1)[0].strip()}" for code, meaning in EXIT_CODES.items())
    return f'Exit codes: {"; ".join(labels)}. Details: README.md, "The command line".'


@click.group(cls=RaxxGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=_exit_codes_epilog())
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the version and the release (commit) and exit.",
)
@click.option(
    "--debug", is_flag=True, envvar="RAXX_DEBUG", help="On failure, print the traceback too [env: RAXX_DEBUG]."
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Raxx: the Raptor trading API, its operator console and the release gate."""
    if os.environ.get("RAXX_APP"):  # a dyno: DATABASE_URL is the app's own (before any option reads it)
        from raxx.common.secrets import DYNO_SECRETS
        from raxx.runtime import adopt_dyno_attachments, dyno_secrets_opener

        added = adopt_dyno_attachments()
        DYNO_SECRETS.declare(dyno_secrets_opener())  # Infisical, as the app's processes read it
        ctx.call_on_close(lambda: [os.environ.pop(name, None) for name in added])
        ctx.call_on_close(lambda: DYNO_SECRETS.declare(None))


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
@click.option(
    "--data-dir", type=click.Path(file_okay=False), default=".raxx", show_default=True, envvar="RAXX_DATA_DIR"
)
@click.option("--console-port", type=PORT, default=8000, show_default=True, envvar="RAXX_CONSOLE_PORT")
@click.option("--staging-port", type=PORT, default=8101, show_default=True, envvar="RAXX_STAGING_PORT")
@click.option("--prod-port", type=PORT, default=8102, show_default=True, envvar="RAXX_PROD_PORT")
@click.option("--no-monitor", is_flag=True, help="do not start the health monitor")
@click.option(
    "--oidc-demo", is_flag=True, help="also start a demo OpenID provider (users stella and paul) for single sign-on"
)
@click.option("--oidc-port", type=PORT, default=8103, show_default=True, envvar="RAXX_OIDC_PORT")
def up(
    data_dir: str,
    console_port: int,
    staging_port: int,
    prod_port: int,
    no_monitor: bool,
    oidc_demo: bool,
    oidc_port: int,
) -> None:
    """Start the whole local topology on an embedded PostgreSQL; Ctrl-C stops it.

    It writes DATA_DIR/raxx.env: source it (set -a; . .raxx/raxx.env; set +a) and the
    other raxx commands act on this topology. Options also read RAXX_DATA_DIR,
    RAXX_CONSOLE_PORT, RAXX_STAGING_PORT and RAXX_PROD_PORT.
    """
    from raxx.local.options import UpOptions
    from raxx.local.up import run_up

    if len({console_port, staging_port, prod_port}) < 3:
        raise click.UsageError("--console-port, --staging-port and --prod-port must be three different ports")
    if oidc_demo and oidc_port in (console_port, staging_port, prod_port):
        raise click.UsageError("--oidc-port must differ from the other ports")

    sys.exit(
        run_up(
            UpOptions(
                data_dir=data_dir,
                console_port=console_port,
                staging_port=staging_port,
                prod_port=prod_port,
                monitor=not no_monitor,
                oidc_demo=oidc_demo,
                oidc_port=oidc_port,
            )
        )
    )


@cli.command()
@click.option("--host", default="0.0.0.0", envvar="RAXX_WEB_HOST", show_default=True)  # noqa: S104 - a dyno
@click.option("--port", type=PORT, envvar="PORT", default=8000, show_default=True, help="default: $PORT")
@click.option("--workers", type=click.IntRange(min=1), envvar="WEB_CONCURRENCY", default=1, show_default=True)
def web(host: str, port: int, workers: int) -> None:
    """Serve the app named by RAXX_APP (raptor or console): the Procfile's web process."""
    from raxx.runtime import serve_web

    serve_web(host=host, port=port, workers=workers)


@cli.command()
def release() -> None:
    """Run the migrations of the app named by RAXX_APP: the Procfile's release phase."""
    from raxx.common.logging import configure_logging
    from raxx.release_phase import run_release

    configure_logging("INFO")  # its start-up lines (the connections it may hold) go to stderr
    run_release(click.echo)


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
    from raxx.secrets_check import secrets_report

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
    """Load every area group now: for in-process callers (``CliRunner`` tests); ``raxx`` loads on demand."""
    ctx = click.Context(cli)
    for name in LAZY_COMMANDS:
        cli.get_command(ctx, name)


def main() -> None:
    cli(prog_name="raxx")
