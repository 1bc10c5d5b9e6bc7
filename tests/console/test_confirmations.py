"""Typed confirmations in a protected environment: bound to session, environment, action and parameters."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from raxx.common.clock import utcnow
from raxx.common.provision import ProvisionedDatabase
from raxx.console.confirmation.service import Confirmable, ConfirmationRefused, issue, typed_errors, verify
from tests.console.conftest import RunningRaptor, add_team, raptor_tokens
from tests.console.helpers import (
    audit_events,
    audit_head,
    hidden_fields,
    order_form,
    raptor_orders,
    second_browser,
    signed_in,
)
from tests.fixtures.apps import asgi_client, console_app, write_registry

SECRET = "s" * 40


def _coid() -> str:
    return f"t-{uuid.uuid4().hex}"


async def _confirm_page(console: httpx.AsyncClient, url: str, form: dict[str, str]) -> dict[str, str]:
    """Post an action; expect the confirmation page; return its form's fields."""
    ask = await console.post(url, data=form)
    assert ask.status_code == 200, ask.text
    assert "data-confirm=" in ask.text
    return hidden_fields(ask.text, "confirm-form")


async def _resting_prod_order(console: httpx.AsyncClient, csrf: str) -> str:
    form = order_form(csrf, "prod", client_order_id=_coid(), type="limit", limit_price="1", symbol="XOM")
    fields = await _confirm_page(console, "/prod/orders", form)
    done = await console.post("/prod/orders", data={**fields, "typed_env": "prod", "typed_target": "BUY 1 XOM @ 1"})
    assert done.status_code == 303, done.text
    return done.headers["location"].split("/")[-1].split("?")[0]


async def test_placing_in_prod_asks_for_the_environment_and_the_order_typed(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    form = order_form(csrf, "prod", client_order_id=_coid(), quantity="3", symbol="AAPL")
    ask = await console.post("/prod/orders", data=form)
    assert 'data-confirm="order.place"' in ask.text
    assert 'data-env="prod"' in ask.text
    assert "BUY 3 AAPL" in ask.text
    assert not [o for o in raptor_orders(raptors["prod"]) if o["client_order_id"] == form["client_order_id"]]
    fields = hidden_fields(ask.text, "confirm-form")
    wrong = await console.post("/prod/orders", data={**fields, "typed_env": "staging", "typed_target": "BUY 3 AAPL"})
    assert wrong.status_code == 422
    assert 'data-field-error="typed_env"' in wrong.text
    assert not [o for o in raptor_orders(raptors["prod"]) if o["client_order_id"] == form["client_order_id"]]
    done = await console.post("/prod/orders", data={**fields, "typed_env": "PROD ", "typed_target": "buy 3  aapl"})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/prod/orders/")
    assert len([o for o in raptor_orders(raptors["prod"]) if o["client_order_id"] == form["client_order_id"]]) == 1


async def test_the_prompt_is_its_own_audit_event_not_a_placement(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    head = audit_head(console_db)
    form = order_form(csrf, "prod", client_order_id=_coid(), quantity="2", symbol="IBM")
    fields = await _confirm_page(console, "/prod/orders", form)
    asked = [(e["action"], e["phase"], e["outcome"]) for e in audit_events(console_db, since_seq=head)]
    assert asked == [("order.place.prompt", "attempt", None), ("order.place.prompt", "outcome", "ok")]
    prompt = audit_events(console_db, since_seq=head)[-1]
    assert (prompt["params"]["acted"], prompt["params"]["confirm_target"]) == (False, "BUY 2 IBM")
    head = audit_head(console_db)
    done = await console.post("/prod/orders", data={**fields, "typed_env": "prod", "typed_target": "BUY 2 IBM"})
    assert done.status_code == 303
    placed = [(e["action"], e["phase"], e["outcome"]) for e in audit_events(console_db, since_seq=head)]
    assert placed == [("order.place", "attempt", None), ("order.place", "outcome", "ok")]
    trail = await console.get("/prod/audit", params={"action": "order.place", "outcome": "ok"})
    assert trail.text.count("<code>order.place</code>") == 1  # the placement, not the prompt


async def test_a_confirmation_acts_once(console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]) -> None:
    csrf = await signed_in(console)
    fields = await _confirm_page(console, "/prod/orders/cancel-all", {"csrf_token": csrf, "environment": "prod"})
    typed = {**fields, "typed_env": "prod", "typed_target": "ALL OPEN ORDERS"}
    assert (await console.post("/prod/orders/cancel-all", data=typed)).status_code == 303
    again = await console.post("/prod/orders/cancel-all", data=typed)
    assert again.status_code == 400
    assert 'data-error="confirmation_invalid"' in again.text
    assert "already used" in again.text


async def test_a_cancel_confirmation_cannot_be_replayed_for_cancel_all_or_another_order(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor], registry_file: Path
) -> None:
    csrf = await signed_in(console)
    order_a = await _resting_prod_order(console, csrf)
    order_b = await _resting_prod_order(console, csrf)
    halt = await _confirm_page(
        console, "/prod/trading/halt", {"csrf_token": csrf, "environment": "prod", "reason": "drill"}
    )
    # The halt confirmation's token, replayed for cancel-all: refused, nothing canceled.
    replay = {**halt, "typed_env": "prod", "typed_target": "ALL OPEN ORDERS"}
    refused = await console.post("/prod/orders/cancel-all", data=replay)
    assert refused.status_code == 400
    assert 'data-error="confirmation_invalid"' in refused.text
    assert "different action" in refused.text
    # ... and with a different reason than the one confirmed: refused too.
    other_reason = await console.post(
        "/prod/trading/halt", data={**halt, "reason": "something else", "typed_env": "prod", "typed_target": "HALT"}
    )
    assert other_reason.status_code == 400
    open_ids = {o["id"] for o in raptor_orders(raptors["prod"], status="new")}
    assert {order_a, order_b} <= open_ids
    assert (await console.get("/prod/trading")).text.count('data-halted="false"') == 1


async def test_single_order_cancel_in_prod_is_quick_by_default(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    order_id = await _resting_prod_order(console, csrf)
    done = await console.post(f"/prod/orders/{order_id}/cancel", data={"csrf_token": csrf, "environment": "prod"})
    assert done.status_code == 303  # no confirmation: order.cancel is not in prod's confirm_actions
    assert [o["status"] for o in raptor_orders(raptors["prod"]) if o["id"] == order_id] == ["canceled"]


async def test_confirming_single_cancels_is_a_setting(
    console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]
) -> None:
    registry = write_registry(tmp_path / "envs.toml", {env: r.url for env, r in raptors.items()})
    text = registry.read_text().replace(
        "protected = true", 'protected = true\nconfirm_actions = ["order.place", "order.cancel"]'
    )
    registry.write_text(text)
    await add_team(console_db)
    async with asgi_client(console_app(console_db, registry, raptor_tokens(raptors))) as console:
        csrf = await signed_in(console)
        order_id = await _resting_prod_order(console, csrf)
        fields = await _confirm_page(
            console, f"/prod/orders/{order_id}/cancel", {"csrf_token": csrf, "environment": "prod"}
        )
        done = await console.post(
            f"/prod/orders/{order_id}/cancel",
            data={**fields, "typed_env": "prod", "typed_target": order_id[:8]},
        )
        assert done.status_code == 303
        cancel_all = await console.post("/prod/orders/cancel-all", data={"csrf_token": csrf, "environment": "prod"})
        assert cancel_all.status_code == 303  # no longer listed, so no confirmation


async def test_a_confirmation_is_bound_to_its_session(console_asgi: FastAPI, console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    fields = await _confirm_page(console, "/prod/orders/cancel-all", {"csrf_token": csrf, "environment": "prod"})
    async with second_browser(console_asgi) as other:
        other_csrf = await signed_in(other)
        stolen = {**fields, "csrf_token": other_csrf, "typed_env": "prod", "typed_target": "ALL OPEN ORDERS"}
        refused = await other.post("/prod/orders/cancel-all", data=stolen)
        assert refused.status_code == 400
        assert 'data-error="confirmation_invalid"' in refused.text


# -- the token itself --------------------------------------------------------------------


def _cancel(order_id: str, env: str = "prod") -> Confirmable:
    return Confirmable("order.cancel", env, {"order_id": order_id}, order_id, (order_id[:8],))


def test_the_mac_binds_environment_action_parameters_and_session() -> None:
    now = utcnow()
    token = issue(SECRET, _cancel("A"), session_hash="s1", now=now, ttl=timedelta(minutes=5))
    verify(SECRET, token, _cancel("A"), session_hash="s1", now=now)
    for other, session in (
        (_cancel("B"), "s1"),
        (_cancel("A", "staging"), "s1"),
        (Confirmable("order.cancel_all", "prod", {}, "ALL OPEN ORDERS"), "s1"),
        (_cancel("A"), "s2"),
    ):
        with pytest.raises(ConfirmationRefused, match="different action"):
            verify(SECRET, token, other, session_hash=session, now=now)
    with pytest.raises(ConfirmationRefused):
        verify("t" * 40, token, _cancel("A"), session_hash="s1", now=now)


def test_an_expired_or_tampered_token_is_refused() -> None:
    now = utcnow()
    token = issue(SECRET, _cancel("A"), session_hash="s1", now=now, ttl=timedelta(seconds=30))
    with pytest.raises(ConfirmationRefused, match="expired"):
        verify(SECRET, token, _cancel("A"), session_hash="s1", now=now + timedelta(seconds=31))
    version, expires, nonce, mac = token.split(".")
    longer = f"{version}.{int(expires) + 3600}.{nonce}.{mac}"
    with pytest.raises(ConfirmationRefused, match="different action"):
        verify(SECRET, longer, _cancel("A"), session_hash="s1", now=now)
    with pytest.raises(ConfirmationRefused, match="malformed"):
        verify(SECRET, "v1.garbage", _cancel("A"), session_hash="s1", now=now)


def test_typed_values_must_name_the_environment_and_the_target() -> None:
    what = _cancel("0f1e2d3c-aaaa-bbbb-cccc-000000000000")
    assert typed_errors(what, typed_env="prod", typed_target="0f1e2d3c") == {}
    assert typed_errors(what, typed_env=" PROD", typed_target="0F1E2D3C-AAAA-BBBB-CCCC-000000000000") == {}
    assert set(typed_errors(what, typed_env="staging", typed_target="0f1e2d3c")) == {"typed_env"}
    assert set(typed_errors(what, typed_env="prod", typed_target="ALL OPEN ORDERS")) == {"typed_target"}
    assert set(typed_errors(what, typed_env="", typed_target="")) == {"typed_env", "typed_target"}
