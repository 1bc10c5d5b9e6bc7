"""The doors into an app (``raxx.common.doors``): where fast paths sit, and the table each app declares.

A toy app shows the order: the app's middleware wrap both doors and the last-resort 500;
the real apps' ``FAST_PATHS`` name only routed endpoints, and ``docs/engineering.md``
shows each table as the code renders it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raxx.common.doors import DoorsApp, FastPath, table_rows
from raxx.console.app import FAST_PATHS as CONSOLE_FAST_PATHS
from raxx.raptor.app import FAST_PATHS as RAPTOR_FAST_PATHS
from tests.fixtures.apps import unstarted_apps

ROOT = Path(__file__).resolve().parents[2]


class Answers:
    """A fast path that answers ``GET /thing`` itself and crashes on ``GET /thing?crash``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/thing" and scope["query_string"] != b"routed":
            if scope["query_string"] == b"crash":
                raise RuntimeError("a bug in the fast path")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
            await send({"type": "http.response.body", "body": b"fast"})
            return
        await self.app(scope, receive, send)


class Stamp:
    """An app middleware added after the app was built, as a later change would add one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-stamp", b"yes")]
            await send(message)

        await self.app(scope, receive, stamped)


def toy() -> FastAPI:
    async def thing(crash: bool = False) -> str:
        if crash:
            raise RuntimeError("a bug in the route")
        return "routed"

    async def routed_thing() -> str:
        return "routed"

    app = DoorsApp(fast_paths=[FastPath(Answers, serves={routed_thing: "always"})])
    app.add_api_route("/thing", routed_thing)
    app.add_api_route("/other", thing)
    app.add_middleware(Stamp)
    return app


async def test_the_apps_middleware_wrap_both_doors_and_the_500() -> None:
    transport = httpx.ASGITransport(app=toy(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
        fast = await client.get("/thing")
        routed = await client.get("/thing?routed")
        other = await client.get("/other")
        fast_crash = await client.get("/thing?crash")
        routed_crash = await client.get("/other?crash=true")
    assert (fast.text, routed.json(), other.json()) == ("fast", "routed", "routed")
    for response in (fast, routed, other, fast_crash, routed_crash):
        assert response.headers["x-stamp"] == "yes"
    assert fast_crash.status_code == routed_crash.status_code == 500
    assert fast_crash.content == routed_crash.content


def test_a_table_renders_request_layer_and_fallback_and_refuses_an_unrouted_fallback() -> None:
    assert table_rows(toy()) == [
        "| `GET /thing` | `tests.common.test_doors.Answers` always "
        "| `tests.common.test_doors.toy.<locals>.routed_thing` |"
    ]
    unrouted = DoorsApp(fast_paths=[FastPath(Answers, serves={toy: "always"})])
    with pytest.raises(KeyError):
        table_rows(unrouted)


def test_the_apps_declare_their_fast_paths_and_docs_show_the_tables(tmp_path: Path) -> None:
    apps = unstarted_apps(tmp_path)
    assert apps["raptor"].fast_paths == RAPTOR_FAST_PATHS
    assert apps["console"].fast_paths == CONSOLE_FAST_PATHS
    docs = (ROOT / "docs" / "engineering.md").read_text()
    for name, app in apps.items():
        rows = table_rows(app)
        assert rows, name
        missing = [row for row in rows if row not in docs]
        assert not missing, f"docs/engineering.md lacks {name}'s doors as the code renders them:\n" + "\n".join(rows)
