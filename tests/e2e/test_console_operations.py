"""Console operations in the topology of ``raxx up``: real processes, real tokens issued by ``raxx up``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from click.testing import CliRunner

from raxx.console.commands import console as console_cli
from raxx.local.up import Topology
from tests.fixtures.apps import csrf_from
from tests.fixtures.topology import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


@contextmanager
def signed_in(topology: Topology) -> Iterator[tuple[httpx.Client, str]]:
    client = httpx.Client(base_url=topology.url("console-prod"), follow_redirects=False, timeout=20)
    with client:
        page = client.get("/login")
        done = client.post(
            "/login", data={"username": "demo", "password": DEMO_PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303
        yield client, csrf_from(client.get("/staging/orders").text)


def test_place_and_cancel_through_the_console_in_staging(topology: Topology) -> None:
    with signed_in(topology) as (client, csrf):
        form = {
            "csrf_token": csrf,
            "environment": "staging",
            "symbol": "AAPL",
            "side": "buy",
            "type": "limit",
            "quantity": "2",
            "limit_price": "1.00",
            "time_in_force": "gtc",
            "client_order_id": uuid.uuid4().hex,
        }
        placed = client.post("/staging/orders", data=form)
        assert placed.status_code == 303, placed.text
        order_url = placed.headers["location"].split("?")[0]
        assert 'data-status="new"' in client.get(order_url).text
        canceled = client.post(order_url + "/cancel", data={"csrf_token": csrf, "environment": "staging"})
        assert canceled.status_code == 303
        assert 'data-status="canceled"' in client.get(order_url).text


def test_api_token_from_the_cli_acts_in_prod_only_when_named_twice(topology: Topology) -> None:
    created = CliRunner().invoke(
        console_cli,
        [
            "token",
            "create",
            "e2e script",
            "--user",
            "demo",
            "--env",
            "staging",
            "--env",
            "prod",  # a token reaches prod only when made for it (typed twice) ...
            "--confirm",
            "prod",
            "--database-url",
            topology.databases.console.runtime_url,
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"symbol": "MSFT", "side": "buy", "type": "market", "quantity": "1", "client_order_id": uuid.uuid4().hex}
    with httpx.Client(base_url=topology.url("console-prod"), timeout=20) as api:
        # ... and each prod action still asks for its own confirmation
        assert api.post("/api/prod/orders", json=body, headers=headers).status_code == 428
        placed = api.post("/api/prod/orders", json=body, headers={**headers, "X-Raxx-Confirm": "prod"})
        assert placed.status_code == 201, placed.text
        assert placed.json()["status"] == "filled"
        listed = api.get("/api/prod/orders", params={"symbol": "MSFT"}, headers=headers).json()
        assert placed.json()["id"] in [o["id"] for o in listed["orders"]]
        staging = api.get("/api/staging/orders", params={"symbol": "MSFT"}, headers=headers).json()
        assert placed.json()["id"] not in [o["id"] for o in staging["orders"]]


def test_compare_reads_both_raptors(topology: Topology) -> None:
    with signed_in(topology) as (client, _):
        page = client.get("/compare")
        assert page.status_code == 200
        for env in ("staging", "prod"):
            assert f'<td data-env="{env}">{env}</td>' in page.text
