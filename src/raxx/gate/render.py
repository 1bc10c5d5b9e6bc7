"""Rendering verdicts for people (a table), machines (``--json``) and GitHub Actions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from raxx.gate.verdict import CheckResult, Status

_MARK = {Status.PASS: "[green]pass[/]", Status.FAIL: "[red]FAIL[/]", Status.UNKNOWN: "[yellow]UNKNOWN[/]"}


def console() -> Console:
    return Console(soft_wrap=False, width=max(100, Console().width), highlight=False)


def conditions_table(title: str, results: Iterable[CheckResult]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("condition", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("reason")
    for result in results:
        table.add_row(result.name, _MARK[result.status], result.reason)
    return table


def print_table(title: str, results: Iterable[CheckResult], footer: str) -> None:
    out = console()
    out.print(conditions_table(title, results))
    out.print(footer)


def print_json(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


def github_report(title: str, results: list[CheckResult], verdict: str) -> None:
    """In GitHub Actions: one ``::error`` line per unmet condition and a step summary table."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    for result in results:
        if result.status is not Status.PASS:
            click.echo(f"::error title={_escape_property(f'{title}: {result.name}')}::{_escape_data(result.reason)}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a") as handle:
            handle.write(step_summary(title, results, verdict))


def step_summary(title: str, results: list[CheckResult], verdict: str) -> str:
    icon = {Status.PASS: "✅", Status.FAIL: "❌", Status.UNKNOWN: "⚠️"}
    rows = "".join(f"| {r.name} | {icon[r.status]} {r.status.value} | {_cell(r.reason)} |\n" for r in results)
    return f"### {title}: **{verdict}**\n\n| condition | result | reason |\n| --- | --- | --- |\n{rows}\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
