"""Small helpers for console tests: sign in, read forms, count what reached Raptor."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import psycopg.rows
from fastapi import FastAPI

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, RunningRaptor
from tests.fixtures.apps import csrf_from, login

_HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ORDER_ROW_RE = re.compile(r'data-order-id="([0-9a-f-]{36})" data-status="([a-z_]+)"')


async def signed_in(client: httpx.AsyncClient, name: str = "alice", env: str = "staging") -> str:
    """Sign ``name`` in; return the session's CSRF token."""
    done = await login(client, name, PASSWORD)
    assert done.status_code == 303, done.text
    return csrf_from((await client.get(f"/{env}/orders")).text)


def hidden_fields(html: str, form_id: str | None = None) -> dict[str, str]:
    """The hidden inputs of a page (or of the form with ``form_id``), unescaped."""
    if form_id is not None:
        start = html.index(f'id="{form_id}"')
        html = html[start : html.index("</form>", start)]
    import html as html_lib

    return {name: html_lib.unescape(value) for name, value in _HIDDEN_RE.findall(html)}


def order_rows(html: str) -> dict[str, str]:
    return dict(_ORDER_ROW_RE.findall(html))


def order_form(csrf: str, env: str, **fields: Any) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "environment": env,
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "quantity": "1",
        "limit_price": "",
        "time_in_force": "day",
        "client_order_id": f"test-{id(fields)}-{len(fields)}",
    }
    form.update({k: str(v) for k, v in fields.items()})
    return form


def raptor_orders(raptor: RunningRaptor, **params: Any) -> list[dict[str, Any]]:
    """What Raptor itself holds (read directly, not through the console)."""
    with raptor.direct() as client:
        response = client.get("/v1/orders", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return list(response.json()["orders"])


def second_browser(app: FastAPI) -> httpx.AsyncClient:
    """Another cookie jar on the same running app (its lifespan is already up): another browser."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def audit_events(db: ProvisionedDatabase, *, since_seq: int = 0) -> list[dict[str, Any]]:
    """The audit trail as stored (read as the console's runtime role reads it)."""
    with psycopg.connect(db.runtime_url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return list(cur.execute("SELECT * FROM audit_event WHERE seq > %s ORDER BY seq", (since_seq,)))


def audit_head(db: ProvisionedDatabase) -> int:
    events = audit_events(db)
    return int(events[-1]["seq"]) if events else 0


def outcomes(db: ProvisionedDatabase, *, since_seq: int = 0, action: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in audit_events(db, since_seq=since_seq)
        if e["phase"] == "outcome" and (action is None or e["action"] == action)
    ]
