"""What you see is where you act: the URL and the form name the environment; the session's does not matter."""

from __future__ import annotations

import re
import uuid

import httpx

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor
from tests.console.helpers import (
    audit_events,
    audit_head,
    hidden_fields,
    order_form,
    outcomes,
    raptor_orders,
    signed_in,
)


async def test_a_form_posted_to_another_environment_is_refused_and_nothing_is_sent(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    before = {env: raptor_orders(r) for env, r in raptors.items()}
    head = audit_head(console_db)
    staging_form = order_form(csrf, "staging", client_order_id=uuid.uuid4().hex)
    for url, form in (
        ("/prod/orders", staging_form),
        ("/staging/orders", {**staging_form, "environment": "prod"}),
        ("/prod/orders/cancel-all", {"csrf_token": csrf, "environment": "staging"}),
        ("/staging/trading/halt", {"csrf_token": csrf, "reason": "no environment field"}),
    ):
        response = await console.post(url, data=form)
        assert response.status_code == 400, url
        assert 'data-error="environment_mismatch"' in response.text
        assert "Nothing was sent" in response.text
    assert {env: raptor_orders(r) for env, r in raptors.items()} == before
    recorded = outcomes(console_db, since_seq=head)
    assert [(e["outcome"], e["http_status"]) for e in recorded] == [("failed", 400)] * 4
    assert all(str(e["error"]).startswith("environment_mismatch") for e in recorded)
    assert [e["environment"] for e in recorded] == ["prod", "staging", "prod", "staging"]  # the URL's


async def test_a_staging_tab_keeps_acting_on_staging_after_another_tab_switched_to_prod(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    # Tab 1 opens a staging order form ...
    tab1 = await console.get("/staging/orders/new")
    tab1_form = hidden_fields(tab1.text, "order-form")
    assert tab1_form["environment"] == "staging"
    # ... tab 2 (same session cookie) switches the session to prod ...
    switch = {"csrf_token": csrf, "from_env": "staging", "to_env": "prod", "next": "/orders", "confirmed": "yes"}
    assert (await console.post("/switch", data=switch)).headers["location"] == "/prod/orders"
    assert (await console.get("/")).headers["location"] == "/prod/"
    # ... and tab 1 submits the form it shows: it acts on staging, and lands on a staging page.
    form = {
        **tab1_form,
        "symbol": "GE",
        "side": "buy",
        "type": "market",
        "quantity": "4",
        "limit_price": "",
        "time_in_force": "day",
    }
    head = audit_head(console_db)
    done = await console.post("/staging/orders", data=form, headers={"referer": "http://testserver/staging/orders/new"})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/staging/orders/")
    landed = await console.get(done.headers["location"])
    assert 'data-env="staging"' in landed.text
    assert "<title>[STAGING]" in landed.text
    coid = tab1_form["client_order_id"]
    assert [o["client_order_id"] for o in raptor_orders(raptors["staging"]) if o["client_order_id"] == coid] == [coid]
    assert not [o for o in raptor_orders(raptors["prod"]) if o["client_order_id"] == coid]
    # The audit trail says both: acted on staging, from the staging page, while the session was on prod ...
    recorded = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "order.place"]
    assert [(e["phase"], e["environment"], e["session_env"], e["origin"]) for e in recorded] == [
        ("attempt", "staging", "prod", "/staging/orders/new"),
        ("outcome", "staging", "prod", "/staging/orders/new"),
    ]
    # ... and the audit page marks it as taken from a tab other than the session's environment.
    trail = await console.get("/staging/audit", params={"action": "order.place"})
    row = re.search(rf'<tr data-seq="{recorded[1]["seq"]}"[^>]*>', trail.text)
    assert row
    assert "data-other-tab" in row.group(0)
    assert "&#9888; other tab" in trail.text or "⚠ other tab" in trail.text
    detail = await console.get(f"/staging/audit/{recorded[1]['seq']}")
    assert 'data-event-session-env="prod"' in detail.text
    assert "<code data-event-origin>/staging/orders/new</code>" in detail.text


async def test_an_action_in_the_sessions_environment_is_not_marked_and_a_foreign_referer_is_no_page(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    head = audit_head(console_db)
    form = order_form(csrf, "staging", client_order_id=uuid.uuid4().hex)
    done = await console.post("/staging/orders", data=form, headers={"referer": "https://elsewhere.example/staging/x"})
    assert done.status_code == 303
    [_attempt, outcome] = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "order.place"]
    assert (outcome["environment"], outcome["session_env"], outcome["origin"]) == ("staging", "staging", None)
    trail = await console.get("/staging/audit", params={"action": "order.place"})
    row = re.search(rf'<tr data-seq="{outcome["seq"]}"[^>]*>', trail.text)
    assert row
    assert "data-other-tab" not in row.group(0)


async def test_every_mutating_form_on_every_page_carries_its_environment(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    for env in ("staging", "prod"):
        await console.post(
            f"/{env}/orders",
            data=order_form(csrf, env, client_order_id=uuid.uuid4().hex, type="limit", limit_price="1"),
        )
        for path in ("orders", "orders/new", "trading", "users"):
            page = (await console.get(f"/{env}/{path}")).text
            forms = page.split("<form")[1:]
            mutating = [
                f for f in forms if 'method="post"' in f and 'action="/switch"' not in f and 'action="/logout"' not in f
            ]
            assert mutating, (env, path)
            for form in mutating:
                assert f'action="/{env}/' in form, (env, path, form[:200])
                assert f'name="environment" value="{env}"' in form, (env, path, form[:200])
