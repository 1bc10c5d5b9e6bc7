"""A request's transaction is committed before its response leaves the app.

FastAPI runs a ``yield`` dependency's exit code after the response has been sent unless the
dependency is function-scoped. With the request's session committing there, a browser could
follow the login redirect before its session existed (and be sent back to the login page),
and a commit that failed would follow a response that already said "done".
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, add_team
from tests.fixtures.apps import csrf_from


class SessionsAtResponseStart:
    """ASGI wrapper: counts committed console sessions the moment a login response starts."""

    def __init__(self, app: FastAPI, db: ProvisionedDatabase) -> None:
        self.app, self.db = app, db
        self.seen: list[int] = []

    def committed_sessions(self) -> int:
        with psycopg.connect(self.db.runtime_url) as conn:
            row = conn.execute("SELECT count(*) FROM console_session").fetchone()
            return int(row[0]) if row else 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watching(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["method"] == "POST" and scope["path"] == "/login":
                self.seen.append(self.committed_sessions())
            await send(message)

        await self.app(scope, receive, watching)


async def test_the_login_session_is_committed_before_the_redirect_is_sent(
    console_db: ProvisionedDatabase, console_asgi: FastAPI
) -> None:
    await add_team(console_db)
    watched = SessionsAtResponseStart(console_asgi, console_db)
    async with (
        console_asgi.router.lifespan_context(console_asgi),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=watched), base_url="http://testserver") as client,
    ):
        page = await client.get("/login")
        before = watched.committed_sessions()
        done = await client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303, done.text
        assert watched.seen == [before + 1]
        assert (await client.get("/")).headers["location"] == "/staging/"
