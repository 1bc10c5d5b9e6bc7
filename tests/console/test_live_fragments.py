"""The live pages answer the refresher (``X-Raxx-Fragment: <id>``) with their fragment alone,
naming the environment of the URL; the page itself embeds the same fragment."""

from __future__ import annotations

import httpx
import pytest

from tests.console.helpers import signed_in

LIVE = (
    ("/staging/positions", "positions-table", "staging"),
    ("/prod/positions", "positions-table", "prod"),
    ("/staging/trading", "trading-panel", "staging"),
    ("/prod/trading", "trading-panel", "prod"),
    ("/staging/health", "health-panel", "staging"),
    ("/releases", "release-board", ""),
)


@pytest.mark.parametrize(("path", "fragment", "env"), LIVE)
async def test_a_live_page_answers_the_refresher_with_its_fragment(
    console: httpx.AsyncClient, path: str, fragment: str, env: str
) -> None:
    await signed_in(console)
    start = f'<div id="{fragment}" data-fragment data-env="{env}" data-refresh-every="5">'
    page = await console.get(path)
    assert start in page.text
    alone = await console.get(path, headers={"X-Raxx-Fragment": fragment})
    assert alone.headers["content-type"].startswith("text/html")
    assert "<html" not in alone.text
    assert alone.text.lstrip().startswith(start)
    other = await console.get(path, headers={"X-Raxx-Fragment": "some-other-id"})
    assert "<html" in other.text  # an id the page does not have: the whole page
