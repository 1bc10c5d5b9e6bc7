"""``raxx heroku ...``: what CI and on-call need from Heroku beside the gate's own commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from raxx.common.cliparams import COMMIT
from raxx.common.errors import ConfigError


@click.group()
def heroku() -> None:
    """Heroku helpers: the source digest CI records, an app's release history."""


@heroku.command("source-digest")
@click.option(
    "--commit", envvar="GITHUB_SHA", required=True, type=COMMIT, help="the commit to pack (default: GITHUB_SHA)"
)
@click.option("--repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."), show_default=True)
def source_digest(commit: str, repo: Path) -> None:
    """Print the sha256 of COMMIT's source tarball: pass it to `raxx gate deploy --artifact`.

    The Heroku platform builds from the same reproducible tarball and Heroku checks the
    upload against it, so the ledger's artifact is what Heroku built.
    """
    from raxx.gate.platform.source import GitSource

    click.echo(GitSource(repo).pack(commit).digest)


@heroku.command("releases")
@click.option("--app", "app_name", required=True, help="the Heroku app name")
@click.option("--limit", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def releases(app_name: str, limit: int, as_json: bool) -> None:
    """APP's newest releases with the commit each one runs (token: GATE_HEROKU_API_TOKEN)."""
    import asyncio

    rows = asyncio.run(_releases(app_name, limit))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        commit = str(row["commit"] or "-")[:12]
        when = str(row["created_at"] or "")
        click.echo(f"{mark} v{row['version']:<5} {row['status']:<9} {commit:<12} {when:<26} {row['description']}")


async def _releases(app_name: str, limit: int) -> list[dict[str, object]]:
    from raxx.gate.platform.heroku_api import API_URL, HerokuClient

    token = os.environ.get("GATE_HEROKU_API_TOKEN") or os.environ.get("HEROKU_API_KEY")
    if not token:
        raise ConfigError("GATE_HEROKU_API_TOKEN (or HEROKU_API_KEY) is required but not set")
    client = HerokuClient(token, base_url=os.environ.get("GATE_HEROKU_API_URL") or API_URL)
    try:
        found = await client.releases(app_name, limit=limit)
        commits: dict[str, str | None] = {}
        for release in found:
            if release.slug_id and release.slug_id not in commits:
                commits[release.slug_id] = (await client.slug(app_name, release.slug_id)).commit
        return [
            {
                "version": r.version,
                "status": r.status,
                "current": r.current,
                "commit": commits.get(r.slug_id) if r.slug_id else None,
                "created_at": r.created_at.isoformat() if r.created_at else None,
                "description": r.description,
            }
            for r in found
        ]
    finally:
        await client.aclose()
