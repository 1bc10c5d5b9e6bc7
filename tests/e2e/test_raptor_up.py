"""Raptor as ``raxx up`` serves it: two environments, two databases, tokens bound to each."""

from __future__ import annotations

import httpx
import pytest

from raxx.common.secrets import DotenvSecrets
from raxx.local.up import Topology

pytestmark = pytest.mark.e2e


def _token(topology: Topology, env: str) -> str:
    token = DotenvSecrets(topology.data_dir / "secrets.env").get(f"RAPTOR_TOKEN_{env.upper()}")
    assert token, f"raxx up issued no {env} token"
    return token


def test_an_order_placed_in_staging_is_not_visible_in_prod(topology: Topology) -> None:
    staging_auth = {"Authorization": f"Bearer {_token(topology, 'staging')}", "X-Raxx-Actor": "e2e"}
    prod_auth = {"Authorization": f"Bearer {_token(topology, 'prod')}", "X-Raxx-Actor": "e2e"}
    staging_url, prod_url = topology.url("raptor-staging"), topology.url("raptor-prod")
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1", "client_order_id": "e2e-isolation"}
    placed = httpx.post(f"{staging_url}/v1/orders", json=body, headers=staging_auth, timeout=30)
    assert placed.status_code in (200, 201), placed.text
    order_id = placed.json()["id"]
    assert httpx.get(f"{staging_url}/v1/orders/{order_id}", headers=staging_auth).status_code == 200
    assert httpx.get(f"{prod_url}/v1/orders/{order_id}", headers=prod_auth).status_code == 404
    listed = httpx.get(f"{prod_url}/v1/orders", headers=prod_auth).json()["orders"]
    assert all(o["client_order_id"] != "e2e-isolation" for o in listed)
    crossed = httpx.get(f"{prod_url}/v1/orders", headers=staging_auth)
    assert crossed.status_code == 401
    assert crossed.json()["error"] == "wrong_environment"
    staging_id = httpx.get(f"{staging_url}/v1/identity").json()["broker_account_id"]
    prod_id = httpx.get(f"{prod_url}/v1/identity").json()["broker_account_id"]
    assert staging_id
    assert prod_id
    assert staging_id != prod_id
