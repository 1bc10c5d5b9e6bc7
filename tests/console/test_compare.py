"""``/compare``: staging next to prod, read-only; one failing environment does not hide the other."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor, add_team, raptor_tokens
from tests.console.helpers import order_form, signed_in
from tests.fixtures.apps import asgi_client, console_app, write_registry


def cell(html: str, row: str, env: str) -> str:
    """The text of one cell of the comparison table."""
    block = html.split(f'data-row="{row}"', 1)[1].split("</tr>", 1)[0]
    match = re.search(rf'<td data-env="{env}"[^>]*>(.*?)</td>', block, re.S)
    assert match, (row, env)
    return match.group(1).strip()


async def test_compare_shows_each_environment_side_by_side(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    resting = order_form(csrf, "staging", client_order_id=uuid.uuid4().hex, type="limit", limit_price="1")
    await console.post("/staging/orders", data=resting)
    page = await console.get("/compare")
    assert page.status_code == 200
    assert 'data-env="compare"' in page.text
    assert "<title>[COMPARE]" in page.text
    assert 'data-part="staging"' in page.text
    assert 'data-part="prod"' in page.text
    assert 'data-scope="all-environments">COMPARE<' in page.text
    assert "COMPARISON (read-only)" not in page.text
    assert "nothing on this page acts anywhere" in page.text
    assert "<form" not in page.text.split("<main>", 1)[1]  # read-only: no forms in the page body
    assert cell(page.text, "backend_env", "staging") == "staging"
    assert cell(page.text, "backend_env", "prod") == "prod"
    assert cell(page.text, "release", "prod") == "test-release"
    assert cell(page.text, "ready", "staging") == "ready"
    assert cell(page.text, "halted", "prod") == "active"
    assert int(cell(page.text, "open_orders", "staging")) >= 1
    assert cell(page.text, "identity_latency", "prod").endswith(" ms")
    css = await console.get("/theme/compare.css")
    assert ".env-part-staging{background:#b45309" in css.text
    assert ".env-part-prod{background:#b91c1c" in css.text
    assert ".env-banner{background:#1e293b" in css.text  # no environment's color, not "no env" grey


async def test_a_stopped_staging_leaves_prods_column_complete(
    console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]
) -> None:
    registry = write_registry(
        tmp_path / "envs.toml", {"staging": f"http://127.0.0.1:{free_port()}", "prod": raptors["prod"].url}
    )
    await add_team(console_db)
    async with asgi_client(console_app(console_db, registry, raptor_tokens(raptors))) as console:
        await signed_in(console)
        page = await console.get("/compare")
        assert page.status_code == 200
        assert cell(page.text, "identity", "staging").startswith("UNREACHABLE")
        assert "not asked" in cell(page.text, "open_orders", "staging")
        assert cell(page.text, "backend_env", "prod") == "prod"
        assert cell(page.text, "open_orders", "prod").isdigit()
        assert cell(page.text, "halted", "prod") == "active"
        staging_orders = await console.get("/staging/orders")
        assert staging_orders.status_code == 502
        assert 'data-env="staging"' in staging_orders.text
        assert 'data-backend-error="backend_unavailable"' in staging_orders.text
        assert staging_orders.headers["x-request-id"] in staging_orders.text
        assert (await console.get("/prod/orders")).status_code == 200


async def test_compare_shows_no_access_where_the_operator_holds_no_role(console: httpx.AsyncClient) -> None:
    await signed_in(console, "victor")
    page = await console.get("/compare")
    assert cell(page.text, "release", "prod") == "no access"
    assert cell(page.text, "backend_env", "staging") == "staging"
