"""Rendering verdicts for people (a table), machines (``--json``) and GitHub Actions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from raxx.common.contracts.board import BoardDeployment, BoardHealthPoint, BoardRelease, ReleaseBoard
from raxx.gate.policy import format_duration
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


_SPARKS = " ▁▂▃▄▅▆▇█"


def sparkline(points: list[BoardHealthPoint]) -> str:
    """One character per bucket: taller is healthier; ``·`` is a bucket with no sample."""
    chars = []
    for point in points:
        if point.samples == 0:
            chars.append("·")
        else:
            chars.append(_SPARKS[round(point.ok / point.samples * (len(_SPARKS) - 1))])
    return "".join(chars) or "(no samples)"


def progress_bar(fraction: float, width: int = 20) -> str:
    filled = round(fraction * width)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {fraction:.0%}"


def print_board(board: ReleaseBoard) -> None:
    out = console()
    out.print(f"[bold]Releases[/] ({board.generated_at:%Y-%m-%d %H:%M %Z})")
    for deployment in board.deployments:
        for line in board_lines(deployment):
            out.print(line, markup=False)


def board_lines(d: BoardDeployment) -> list[str]:
    def rel(r: BoardRelease | None) -> str:
        if r is None:
            return "none"
        return f"{r.release} ({r.trigger}, {r.status}, {r.deployed_at:%Y-%m-%d %H:%M} by {r.deployed_by})"

    lines = [
        f"\n{d.service}",
        f"  current:  {rel(d.current)}",
        f"  previous: {rel(d.previous)}",
        f"  health 24h: {sparkline(d.health)}",
    ]
    if d.soak:
        left = format_duration(timedelta(seconds=d.soak.remaining_seconds))
        lines.append(
            f"  soak toward {d.soak.target_environment}: {progress_bar(d.soak.fraction)} {left} left, {d.soak.verdict}"
        )
        lines += [f"    blocks: {b}" for b in d.soak.blockers]
    lines += [
        f"  approval: {a.approved_by} at {a.approved_at:%Y-%m-%d %H:%M}{'' if a.valid else ' (void)'}"
        for a in d.approvals
    ]
    lines += [f"  incident: {i.severity} {i.component}: {i.title}" for i in d.incidents]
    lines += [f"  freeze: until {f.ends_at:%Y-%m-%d %H:%M}: {f.reason}" for f in d.freezes]
    return lines
