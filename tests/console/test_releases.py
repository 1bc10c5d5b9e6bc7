"""The releases page: the gate's board from the ledger, read-only, failing soft."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from raxx.common.contracts.board import (
    BoardApproval,
    BoardDeployment,
    BoardHealthPoint,
    BoardIncident,
    BoardRelease,
    BoardSoak,
    ReleaseBoard,
)
from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD
from tests.fixtures.apps import add_user, asgi_client, console_app, login

NOW = datetime.now(UTC)


def board() -> ReleaseBoard:
    def release(name: str, hours_ago: float, **extra: object) -> BoardRelease:
        return BoardRelease(
            release=name,
            commit=name * 3,
            artifact_digest="sha256:" + name,
            trigger="push",
            deployed_at=NOW - timedelta(hours=hours_ago),
            deployed_by="ci",
            status="succeeded",
            **extra,
        )  # type: ignore[arg-type]

    staging = BoardDeployment(
        service="raptor-staging",
        app="raptor",
        environment="staging",
        current=release("r2", 6, ran_migrations=True),
        previous=release("r1", 30),
        soak=BoardSoak(
            release="r2",
            target_environment="prod",
            fraction=0.25,
            elapsed_seconds=6 * 3600,
            remaining_seconds=18 * 3600,
            window_seconds=24 * 3600,
            verdict="blocked",
            blockers=["soak: 18 h 00 min remaining", "approvals: 0 of 1"],
        ),
        approvals=[
            BoardApproval(
                approved_by="bob",
                approved_at=NOW,
                commit="r2r2r2",
                artifact_digest="sha256:r2",
                valid=False,
                void_reason="bob approved an earlier stint of r2",
            )
        ],
        health=[
            BoardHealthPoint(
                start=NOW - timedelta(hours=24 - h), samples=120 if h != 5 else 0, ok=120 if h != 7 else 60
            )
            for h in range(24)
        ],
        incidents=[BoardIncident(id="i1", component="orders", severity="critical", title="fills stuck", opened_at=NOW)],
    )
    prod = BoardDeployment(
        service="raptor-prod", app="raptor", environment="prod", current=release("r1", 20), previous=None
    )
    return ReleaseBoard(generated_at=NOW - timedelta(minutes=2), deployments=[staging, prod])


async def _page(console_db: ProvisionedDatabase, registry_file: Path, **settings: object) -> httpx.Response:
    await add_user(console_db, "alice", PASSWORD, {"staging": "viewer"})
    async with asgi_client(console_app(console_db, registry_file, {}, **settings)) as client:
        await login(client, "alice", PASSWORD)
        return await client.get("/releases")


async def test_releases_page_shows_current_previous_soak_blockers_and_health(
    console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase, registry_file: Path
) -> None:
    with psycopg.connect(ledger_db.owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO release_board (id, generated_at, body) VALUES (1, now(), %s)",
            (json.dumps(board().model_dump(mode="json")),),
        )
    page = await _page(console_db, registry_file, ledger_database_url=ledger_db.runtime_url)
    assert page.status_code == 200
    text = page.text
    assert 'data-env="releases"' in text
    assert "<title>[RELEASES]" in text
    # Its own banner: a board of releases is not a "comparison", and it says where it reads from.
    assert 'data-scope="all-environments">RELEASES<' in text
    assert "COMPARISON" not in text
    assert "from the release gate&#39;s ledger" in text
    assert 'data-service="raptor-staging"' in text
    assert "<code>r2</code>" in text
    assert "ran migrations" in text
    assert 'progress max="86400" value="21600"' in text
    assert "18 h 00 min remaining" in text
    assert "approvals: 0 of 1" in text
    assert "bob (void: bob approved an earlier stint of r2)" in text
    assert "critical: fills stuck" in text
    assert text.count('class="spark-ok"') == 22
    assert text.count('class="spark-bad"') == 1
    assert text.count('class="spark-gap"') == 1
    assert 'data-service="raptor-prod"' in text


async def test_releases_page_without_a_ledger_says_so(console_db: ProvisionedDatabase, registry_file: Path) -> None:
    page = await _page(console_db, registry_file)
    assert page.status_code == 200
    assert 'data-releases="unavailable"' in page.text
    assert "CONSOLE_LEDGER_DATABASE_URL" in page.text


async def test_releases_page_with_an_unreachable_ledger_still_renders(
    console_db: ProvisionedDatabase, registry_file: Path
) -> None:
    page = await _page(console_db, registry_file, ledger_database_url="postgresql://x:y@127.0.0.1:9/none")
    assert page.status_code == 200
    assert 'data-releases="unavailable"' in page.text
    assert "could not be read" in page.text


async def test_releases_page_before_the_first_board(
    console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase, registry_file: Path
) -> None:
    page = await _page(console_db, registry_file, ledger_database_url=ledger_db.runtime_url)
    assert "has not written a release board yet" in page.text
