"""``raxx audit verify``: walk the chain, check it against checkpoints, record and alert.

Exit codes: see :mod:`raxx.console.audit.commands` (``raxx audit --help``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from raxx.console.audit.cli import cli_context, database_option, env_file_option, run, secrets

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from raxx.console.audit.verify import VerifyReport


def verify_workers(requested: int) -> int:
    """Worker processes for ``verify``: each opens a connection of its own, so where a
    connection budget is declared they stay within the one-off's reservation (the engine
    keeps one more); locally, as many as asked."""
    from raxx.common.dbbudget import ONE_OFF
    from raxx.common.settings import load_budget

    budget = load_budget()
    if not budget.declared:
        return requested
    return max(1, min(requested, ONE_OFF - 1))


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal (stderr); nothing when piped or in CI."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.command()
@database_option
@env_file_option
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="an exported checkpoint file (JSON Lines) to check the chain against; repeatable",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    metavar="KEY",
    help="a public key that verifies checkpoints: a file (PEM, or the keys document), the console's "
    "/.well-known/raxx-audit-keys.json URL, or ed25519:BASE64; repeatable. No secret is then needed",
)
@click.option("--no-stored", is_flag=True, help="ignore the checkpoints stored in the database")
@click.option("--no-record", is_flag=True, help="do not record this verification as an audit event")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="CPU count",
    help="processes verifying ranges of a long chain (over 200,000 events)",
)
def verify(
    database_url: str | None,
    env_file: Path,
    checkpoint_files: tuple[Path, ...],
    public_keys: tuple[str, ...],
    no_stored: bool,
    no_record: bool,
    as_json: bool,
    workers: int,
) -> None:
    """Walk the hash chain and report OK (count, head) or what is broken. Exit codes: see `raxx audit --help`."""
    from raxx.console.audit.checkpoint import read_checkpoint_file, stored_checkpoints
    from raxx.console.audit.keyfiles import verifier_for
    from raxx.console.audit.service import AuditTrail
    from raxx.console.audit.verify import verify_chain

    verifier = verifier_for(public_keys, secrets(env_file), required=bool(checkpoint_files))
    exported = [cp for path in checkpoint_files for cp in read_checkpoint_file(path)]
    workers = verify_workers(workers)

    async def work(engine: AsyncEngine) -> VerifyReport:
        stored = [] if no_stored else await stored_checkpoints(engine)
        with _progress("verifying") as progress:
            report = await verify_chain(
                engine, checkpoints=exported, stored=stored, verifier=verifier, progress=progress, workers=workers
            )
        if not no_record:
            await AuditTrail(engine).record(
                cli_context(), "audit.verify", outcome="ok" if report.ok else "failed", params=report.as_dict()
            )
            await _alert_on(engine, report)
        return report

    report = run(database_url, work)
    _render_report(report, as_json=as_json)
    sys.exit(report.exit_code())


async def _alert_on(engine: AsyncEngine, report: VerifyReport) -> None:
    """A chain that does not verify wakes someone; one that does resolves that alert."""
    from raxx.common.alerts import Alerts
    from raxx.common.alerts.dispatch import deliver_briefly

    alerts = Alerts(engine, source="raxx audit verify")
    if report.ok:
        await alerts.resolve_alert(CHAIN_ALERT_KEY)
    else:
        details = {k: v for k, v in report.as_dict().items() if k != "findings"} | {
            "first": report.findings[0].describe()
        }
        await alerts.raise_alert(
            "audit.chain_broken",
            environment=None,
            summary=f"the console's audit trail does not verify: {report.summary()}",
            details=details,
            dedup_key=CHAIN_ALERT_KEY,
        )
    if alerts.queued.is_set():
        await deliver_briefly(engine)


CHAIN_ALERT_KEY = "audit.chain_broken"


def _render_report(report: VerifyReport, *, as_json: bool) -> None:
    if as_json:
        import json

        click.echo(json.dumps({**report.as_dict(), "notes": report.notes}, indent=2))
        return
    click.echo(report.summary())
    for finding in report.findings:
        click.echo(f"  {finding.describe()}")
    if report.finding_total > len(report.findings):
        click.echo(f"  ... and {report.finding_total - len(report.findings)} more")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
