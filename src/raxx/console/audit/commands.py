"""``raxx audit ...``: verify, export, checkpoint, reconcile. Thin: parse, call, render, exit.

The database is ``CONSOLE_DATABASE_URL`` (or ``--database-url``). Checkpoints are signed
with the Ed25519 private key ``CONSOLE_AUDIT_SIGNING_KEY`` (``.env`` file, then the process
environment); verifying needs only public keys: ``--public-key`` (a file, the console's
``/.well-known/raxx-audit-keys.json`` URL, or ``ed25519:...``), else the local configuration's.

``raxx audit verify`` exit codes: 0 intact; 3 an event was edited or a link broken;
4 events missing (gaps); 5 chain shorter than or different from a checkpoint
(newest events deleted, or rewritten); 6 a checkpoint's signature does not verify or
its file cannot be read; 69 database unreachable; 78 configuration missing or a key that
cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from raxx.common.cliparams import DURATION, LINE, EnvironmentName
from raxx.common.errors import BadRequest, ConfigError, Unavailable
from raxx.console.audit.cli import audit_keys, cli_context, database_option, env_file_option, run, secrets
from raxx.console.audit.verify_command import verify

#: How long ``raxx audit reconcile`` waits for a console's own timed pass to end before giving up.
RECONCILE_WAIT_S = 60.0

# Only what the command line needs at import (``raxx --help`` loads this module): the
# audit machinery is imported by the commands that use it.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from raxx.console.audit.repository import EventFilter


@click.group()
def audit() -> None:
    """The console's audit trail: verify the chain, export events, sign checkpoints, reconcile.

    \b
    `raxx audit verify` exit codes:
      0   the chain is intact
      3   an event was edited or a link is broken
      4   events are missing (a gap in seq)
      5   the chain is shorter than, or differs from, a signed checkpoint
      6   a checkpoint's signature does not verify, or its file cannot be read
      69  the database is unreachable;  78  configuration is missing, or a key cannot be read

    Checkpoints verify with public keys only: `raxx audit verify --public-key KEY`
    (a file, the console's /.well-known/raxx-audit-keys.json URL, or ed25519:BASE64).
    """


audit.add_command(verify)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not a date/time: {value!r} (use ISO 8601, e.g. 2026-11-26T09:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@audit.command()
@database_option
@click.option("--since", help="events recorded at or after this time (ISO 8601; UTC if no offset)", type=LINE)
@click.option("--until", help="events recorded before this time", type=LINE)
@click.option(
    "--env", "environment", help="one environment; '-' for events with none", type=EnvironmentName(also=("-",))
)
@click.option("--actor", help="actor name or user id", type=LINE)
@click.option("--action", help="action name, or a prefix such as 'order.*'", type=LINE)
@click.option("--outcome", type=click.Choice(["ok", "denied", "failed", "unknown"]))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="file to write (default: stdout)")
def export(
    database_url: str | None,
    since: str | None,
    until: str | None,
    environment: str | None,
    actor: str | None,
    action: str | None,
    outcome: str | None,
    fmt: str,
    output: Path | None,
) -> None:
    """Stream matching events in chain order as JSON Lines or CSV."""
    from raxx.console.audit.export import export_events
    from raxx.console.audit.repository import EventFilter
    from raxx.console.audit.service import AuditTrail

    filters = EventFilter(
        environment=environment,
        actor=actor,
        action=action,
        outcome=outcome,
        since=_parse_time(since),
        until=_parse_time(until),
    )

    async def work(engine: AsyncEngine) -> int:
        # Two phases, as the console's download: the attempt before the first byte, the outcome
        # with the rows sent however it ends (done, the reader gone, Ctrl-C, an unwritable file).
        sent = [0]
        where = "stdout" if output is None or str(output) == "-" else str(output)
        params = {"filters": _filter_params(filters), "format": fmt, "output": where}
        context = cli_context(environment if environment != EventFilter.NO_ENVIRONMENT else None)
        async with AuditTrail(engine).action(context, "audit.export", target=where, params=params) as act:
            try:
                with _open_output(output) as out:
                    count = await export_events(
                        engine, out, filters, fmt="csv" if fmt == "csv" else "jsonl", on_event=_counter(sent)
                    )
            except BaseException:
                act.set("failed", count=sent[0])
                raise
            act.set("ok", count=count)
        return count

    count = run(database_url, work)
    click.echo(f"exported {count} event(s)", err=True)


def _counter(box: list[int]) -> Callable[[int], None]:
    def seen(count: int) -> None:
        box[0] = count

    return seen


def _filter_params(filters: EventFilter) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in vars(filters).items() if v is not None}


@contextmanager
def _open_output(output: Path | None) -> Iterator[TextIO]:
    if output is None or str(output) == "-":
        yield sys.stdout
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        yield handle


@audit.command()
@database_option
@env_file_option
@click.option(
    "--export",
    "export_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="append the checkpoint(s) to this file (JSON Lines) instead of stdout",
)
@click.option("--all", "export_all", is_flag=True, help="export every stored checkpoint instead of signing a new one")
@click.option(
    "--public-key",
    "public_key",
    is_flag=True,
    help="print the public keys that verify this console's checkpoints (the document the console "
    "serves at /.well-known/raxx-audit-keys.json) and exit",
)
def checkpoint(
    database_url: str | None, env_file: Path, export_to: Path | None, export_all: bool, public_key: bool
) -> None:
    """Verify the chain since the last checkpoint, then sign and store its head."""
    from raxx.common.clock import SystemClock
    from raxx.console.audit.checkpoint import SIGNING_KEY_SECRET, export_lines, stored_checkpoints
    from raxx.console.audit.checkpointer import create_checkpoint

    keys = audit_keys(env_file)
    if public_key:
        if keys.signing is None and not keys.older:
            raise ConfigError(f"no checkpoint key is configured: set {SIGNING_KEY_SECRET} (`raxx audit keygen`)")
        import json

        click.echo(json.dumps(keys.public_document(), indent=2))
        return
    signer = keys.signer()
    if signer is None:
        raise ConfigError(f"{SIGNING_KEY_SECRET} is required but not set (generate one: `raxx audit keygen`)")

    async def work(engine: AsyncEngine) -> str:
        if export_all:
            return export_lines(reversed(await stored_checkpoints(engine)))
        return export_lines([await create_checkpoint(engine, signer, clock=SystemClock())])

    lines = run(database_url, work)
    if export_to is None or str(export_to) == "-":
        click.echo(lines, nl=False)
    else:
        with export_to.open("a", encoding="utf-8") as handle:
            handle.write(lines)
        click.echo(f"checkpoint(s) appended to {export_to}", err=True)


@audit.command()
def keygen() -> None:
    """Print a new Ed25519 checkpoint signing key (for CONSOLE_AUDIT_SIGNING_KEY), once.

    Its public key and key id go to stderr. Store the private key as a secret; when it
    replaces an older one, add the older public key to CONSOLE_AUDIT_PUBLIC_KEYS.
    """
    from raxx.console.audit.checkpoint import SIGNING_KEY_SECRET
    from raxx.console.audit.keys import SigningKey

    key = SigningKey.generate()
    click.echo(f"{SIGNING_KEY_SECRET}={key.compact()}")
    click.echo(f"public key {key.public.compact()} (key id {key.key_id})", err=True)


@audit.command()
@database_option
@env_file_option
@click.option(
    "--older-than", type=DURATION, default="10m", show_default=True, help="close attempts open longer than this"
)
@click.option("--lookback", type=DURATION, default="30d", show_default=True, help="ignore attempts older than this")
@click.option(
    "--environments",
    "environments_file",
    envvar="CONSOLE_ENVIRONMENTS_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="environment registry (TOML) naming each Raptor to ask [env: CONSOLE_ENVIRONMENTS_FILE]",
)
def reconcile(
    database_url: str | None,
    env_file: Path,
    older_than: timedelta,
    lookback: timedelta,
    environments_file: Path | None,
) -> None:
    """Close attempts that never got an outcome: ask Raptor about their request id, else mark unknown."""
    import httpx

    from raxx.common.clock import SystemClock
    from raxx.common.environments import EnvironmentRegistry
    from raxx.console.audit.lookup import HttpRequestLookup
    from raxx.console.audit.reconciler import reconcile as run_reconcile

    registry = EnvironmentRegistry.from_toml(environments_file) if environments_file else None

    async def work(engine: AsyncEngine) -> str:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            lookup = HttpRequestLookup(registry, secrets(env_file), client) if registry else None
            report = await run_reconcile(
                engine,
                lookup,
                older_than=older_than,
                lookback=lookback,
                clock=SystemClock(),
                wait_s=RECONCILE_WAIT_S,  # a console's timed pass may be running: wait for it, then do ours
            )
        if report.skipped:
            raise Unavailable(
                f"another console process has been reconciling for {RECONCILE_WAIT_S:g} s; nothing examined. "
                "Run this again when its pass ends (its log says audit.reconcile.ok)"
            )
        return report.summary()

    click.echo(run(database_url, work))
