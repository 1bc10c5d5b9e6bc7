"""A cancel-all that leaves orders open says so, in the colour of a warning: Raptor cancels one
order at a time and lists those it could not (the broker refused, or the request's deadline
for the broker ran out), and an operator reading "cancel all: done" would walk away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD
from tests.console.helpers import signed_in
from tests.fixtures.apps import add_user, asgi_client, console_app, write_registry
from tests.fixtures.servers import serve

OPEN_ID = "0193a4b2-0000-7000-8000-000000000001"


def raptor_that_cannot_cancel_one() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/identity")
    async def identity() -> dict[str, str]:
        return {"environment": "staging", "release": "r1", "database": "x:1", "started_at": "2026-12-04T00:00:00Z"}

    @app.get("/v1/orders")
    async def orders() -> dict[str, Any]:
        return {"orders": [], "next_cursor": None}

    @app.delete("/v1/orders")
    async def cancel_all() -> dict[str, Any]:
        return {
            "canceled": [],
            "failed": [
                {
                    "order_id": OPEN_ID,
                    "error": "broker_unavailable",
                    "detail": "the broker did not answer (the request's 20 s for the broker ran out before this "
                    "call; the cancel was not sent); the order is unchanged",
                }
            ],
        }

    return app


async def test_orders_left_open_by_a_cancel_all_are_a_warning_not_a_success(
    console_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    with serve(raptor_that_cannot_cancel_one()) as raptor:
        registry = write_registry(tmp_path / "envs.toml", {"staging": raptor.url})
        await add_user(console_db, "alice", PASSWORD, {"staging": "admin"})
        async with asgi_client(console_app(console_db, registry, {"staging": "s"})) as console:
            csrf = await signed_in(console)
            done = await console.post("/staging/orders/cancel-all", data={"csrf_token": csrf, "environment": "staging"})
            assert done.status_code == 303, done.text
            page = (await console.get(done.headers["location"])).text
    assert 'class="notice notice-bad" role="status" data-notice="canceled_some"' in page
    assert "0 order(s) canceled, 1 NOT canceled" in page
