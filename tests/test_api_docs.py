"""The API references list exactly the endpoints the apps route.

``docs/raptor-api.md`` is what a caller of Raptor reads and ``docs/console-api.md`` what a
scripter of the console reads; each has an endpoints table. An endpoint added without a row
(or a row left behind by one removed or renamed) fails here: the tables are compared, as
method and path, with the routes of the apps as their factories build them (the OpenAPI
document, plus the routes kept out of it on purpose, such as ``/metrics``). Path parameters
compare by position, not by name (``{id}`` in the docs is ``{order_id}`` in the route).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raxx.common.doors import DoorsApp
from raxx.common.metrics import METRICS_PATH
from tests.fixtures.apps import unstarted_apps

ROOT = Path(__file__).resolve().parents[1]
#: A method and a path in a table's first cell; ``DELETE ...`` repeats the path before it.
ENDPOINT = re.compile(r"`(GET|HEAD|POST|PUT|PATCH|DELETE) ([^`\s]+)`")
PARAMETER = re.compile(r"\{[^}]*\}")

Endpoint = tuple[str, str]


def normalized(method: str, path: str) -> Endpoint:
    return method, PARAMETER.sub("{}", path)


def documented(doc: Path, section: str) -> set[Endpoint]:
    """The endpoints named in the first cells of the tables under ``section`` (up to the next
    heading of the same or a higher level)."""
    text = doc.read_text(encoding="utf-8")
    level = section.split(" ", 1)[0]
    start = text.index(f"\n{section}\n")
    end = re.search(rf"\n#{{1,{len(level)}}} ", text[start + 1 :])
    body = text[start : start + 1 + end.start()] if end else text[start:]
    found: set[Endpoint] = set()
    for line in body.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split(" | ", 1)[0]
        path = ""
        for method, named in ENDPOINT.findall(first_cell):
            path = path if named == "..." else named
            found.add(normalized(method, path))
    return found


def routed(app: DoorsApp) -> set[Endpoint]:
    """Every method and path of the app's OpenAPI document."""
    return {
        normalized(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations
    }


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DoorsApp]:
    return unstarted_apps(tmp_path_factory.mktemp("apps"))


def test_raptor_api_md_lists_every_raptor_endpoint(apps: dict[str, DoorsApp]) -> None:
    # /metrics is kept out of the OpenAPI document (a scrape token, not a Raptor token) and documented.
    expected = routed(apps["raptor"]) | {("GET", METRICS_PATH)}
    listed = documented(ROOT / "docs" / "raptor-api.md", "## Endpoints")
    assert listed == expected, {"not documented": sorted(expected - listed), "not routed": sorted(listed - expected)}


def test_console_api_md_lists_every_json_api_endpoint_and_csv_export(apps: dict[str, DoorsApp]) -> None:
    routes = routed(apps["console"])
    expected = {(method, path) for method, path in routes if path.startswith("/api/") or path.endswith(".csv")}
    listed = documented(ROOT / "docs" / "console-api.md", "## Endpoints")
    assert listed == expected, {"not documented": sorted(expected - listed), "not routed": sorted(listed - expected)}


def test_an_endpoint_in_a_table_is_read_as_the_reference_writes_it(tmp_path: Path) -> None:
    """The parser reads what the references write: several per cell, a body after the path, ``DELETE ...``."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "# X\n\n## Endpoints\n\n| call | who |\n| --- | --- |\n"
        '| `GET /a`, `GET /b/{id}` | read |\n| `PUT /c/{s}` `{"price"}`, `DELETE ...` | admin |\n'
        "\n### More\n\n| `POST /d` | x |\n\n## Next\n\n| `GET /e` | x |\n",
        encoding="utf-8",
    )
    found = documented(doc, "## Endpoints")
    assert found == {("GET", "/a"), ("GET", "/b/{}"), ("PUT", "/c/{}"), ("DELETE", "/c/{}"), ("POST", "/d")}
