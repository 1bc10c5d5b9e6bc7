"""The Overview: numbers per environment from real Raptors, the ledger's board and the audit trail."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from raxx.common.contracts.board import ReleaseBoard
from raxx.common.provision import ProvisionedDatabase
from raxx.console.monitor_watch import check_the_monitor
from tests.console.conftest import PASSWORD, RunningRaptor, raptor_tokens
from tests.console.helpers import order_form, signed_in
from tests.console.test_releases import board
from tests.fixtures.apps import add_user, asgi_client, console_app, login, write_registry


def _write_board(ledger_db: ProvisionedDatabase, written: ReleaseBoard) -> None:
    """The board as the monitor writes it (its age is the body's ``generated_at``)."""
    with psycopg.connect(ledger_db.owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO release_board (id, generated_at, body) VALUES (1, now(), %s) "
            "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body",
            (json.dumps(written.model_dump(mode="json")),),
        )


def number(html: str, name: str) -> str:
    found = re.search(rf'data-number="{name}"[^>]*>(?:<a [^>]*>)?([^<]+)<', html)
    assert found, name
    return found.group(1).strip()


def _direct(raptor: RunningRaptor, **body: str) -> None:
    order = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1", **body}
    with raptor.direct() as client:
        assert client.post("/v1/orders", json=order).status_code == 201


async def test_overview_shows_each_panel_for_its_environment(
    console_db: ProvisionedDatabase,
    ledger_db: ProvisionedDatabase,
    registry_file: Path,
    raptors: dict[str, RunningRaptor],
) -> None:
    with psycopg.connect(ledger_db.owner_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO release_board (id, generated_at, body) VALUES (1, now(), %s) "
            "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body",
            (json.dumps(board().model_dump(mode="json")),),
        )
    staging = raptors["staging"]
    with staging.direct() as client:
        before = client.get("/v1/orders/summary").json()
    _direct(staging, type="limit", limit_price="0.01")  # rests: open
    _direct(staging, side="sell", quantity="999999")  # no such position: rejected
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin", "prod": "viewer"})
    app = console_app(console_db, registry_file, raptor_tokens(raptors), ledger_database_url=ledger_db.runtime_url)
    async with asgi_client(app) as console:
        csrf = await signed_in(console)
        await console.post("/staging/orders", data=order_form(csrf, "staging", client_order_id="overview-1"))
        page = await console.get("/staging/")
        prod = await console.get("/prod/")
    assert page.status_code == 200
    html = page.text
    assert int(number(html, "open_orders")) == before["open_orders"] + 1
    assert int(number(html, "placed_today")) == before["placed_today"] + 3
    assert int(number(html, "fills_today")) >= before["fills_today"] + 1
    assert 'data-reason="insufficient position"' in html
    assert 'data-halted="false"' in html
    assert number(html, "buying_power").endswith("USD")
    assert 'data-current-release="raptor">r2<' in html
    assert 'progress max="100" value="25"' in html
    assert "approvals: 0 of 1" in html
    assert 'data-identity="ok"' in html
    assert "data-identity-age" in html
    assert re.search(r'data-last-event="\d+"><code>order.place</code>', html)
    # prod: its own release, and a viewer there does not see the audit trail's last event
    assert 'data-current-release="raptor">r1<' in prod.text
    assert "data-last-event" not in prod.text
    assert "Shown to auditors" in prod.text


async def test_overview_with_raptor_down_still_shows_the_other_panels(
    console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    registry = write_registry(
        tmp_path / "environments.toml", {"staging": "http://127.0.0.1:9", "prod": "http://127.0.0.1:9"}
    )
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
    async with asgi_client(console_app(console_db, registry, {"staging": "x", "prod": "y"})) as console:
        await login(console, "alice", PASSWORD)
        page = await console.get("/staging/")
    assert page.status_code == 200
    assert page.text.count("data-panel-error") >= 4  # orders, trading, account; no ledger configured
    assert 'data-identity="unreachable"' in page.text


async def test_overview_says_when_the_release_board_is_stale(
    console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    """The release panel is the monitor's snapshot, not a live read: with the monitor stopped it
    would go on showing a release that no longer runs and a soak that no longer progresses."""
    _write_board(ledger_db, board().model_copy(update={"generated_at": datetime.now(UTC) - timedelta(hours=2)}))
    registry = write_registry(
        tmp_path / "environments.toml", {"staging": "http://127.0.0.1:9", "prod": "http://127.0.0.1:9"}
    )
    await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
    app = console_app(console_db, registry, {"staging": "x", "prod": "y"}, ledger_database_url=ledger_db.runtime_url)
    async with asgi_client(app) as console:
        await login(console, "alice", PASSWORD)
        page = await console.get("/staging/")
    assert 'data-current-release="raptor">r2<' in page.text
    panel = page.text[page.text.index('id="panel-release"') :]
    assert re.search(r"data-board-age>Board written 2 h 0\d min ago &mdash; <strong[^>]*>stale: is the monitor", panel)


async def test_a_board_that_stops_moving_raises_monitor_silent_until_it_moves_again(
    console_db: ProvisionedDatabase, ledger_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    """A stopped monitor raises nothing about itself, and its alerts stop with it: the console,
    which reads its board, says so, once, and resolves it when the board is rewritten."""
    registry = write_registry(
        tmp_path / "environments.toml", {"staging": "http://127.0.0.1:9", "prod": "http://127.0.0.1:9"}
    )
    app = console_app(console_db, registry, {"staging": "x", "prod": "y"}, ledger_database_url=ledger_db.runtime_url)
    async with asgi_client(app):
        state = app.state.console
        assert await check_the_monitor(state, state.alerts) is None  # no board yet: a new topology
        _write_board(ledger_db, board().model_copy(update={"generated_at": datetime.now(UTC) - timedelta(hours=2)}))
        assert await check_the_monitor(state, state.alerts) is True
        assert await check_the_monitor(state, state.alerts) is True  # still open: counted, not sent again
        _write_board(ledger_db, board().model_copy(update={"generated_at": datetime.now(UTC)}))
        assert await check_the_monitor(state, state.alerts) is False
    with psycopg.connect(console_db.owner_url) as conn:
        rows = conn.execute("SELECT kind, state, occurrences, summary FROM alert WHERE dedup_key = 'monitor.silent'")
        [(kind, alert_state, occurrences, summary)] = rows.fetchall()
    assert (kind, alert_state, occurrences) == ("monitor.silent", "resolved", 2)
    assert summary.startswith("the release board was last written 2 h 0")
