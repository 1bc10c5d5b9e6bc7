"""Requests shaped oddly but legally, or ambiguously: the record says what the endpoint read,
and an ambiguous request is refused, recorded, with nothing sent.

Each case was found by testing the running console from outside: a ``Content-Type`` in mixed
case (legal, RFC 9110) left the record without its fields and crashed a prod confirmation;
JSON nested past the parser's depth was a 500 with no record; a form naming ``environment``
twice, or two ``X-Raxx-Confirm`` headers, were judged by one of the two; ``DELETE /orders``
with a filter cancelled every order.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import httpx
import pytest

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import RunningRaptor
from tests.console.helpers import audit_events, audit_head, hidden_fields, order_form, raptor_orders, signed_in
from tests.console.test_api import bearer, new_token, order

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MIXED_CASE_FORM = {"Content-Type": "Application/X-WWW-Form-URLEncoded"}


def _coid() -> str:
    return f"shape-{uuid.uuid4().hex}"


def _held(raptor: RunningRaptor, client_order_id: str) -> list[dict[str, object]]:
    return [o for o in raptor_orders(raptor) if o["client_order_id"] == client_order_id]


async def test_a_mixed_case_form_type_is_recorded_with_its_fields(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    head = audit_head(console_db)
    form = order_form(csrf, "staging", client_order_id=_coid(), symbol="ORCL")
    placed = await console.post("/staging/orders", content=urlencode(form), headers=MIXED_CASE_FORM)
    assert placed.status_code == 303, placed.text
    attempt, outcome = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "order.place"]
    assert (attempt["target"], attempt["environment"]) == ("ORCL", "staging")
    assert attempt["params"]["client_order_id"] == form["client_order_id"]
    assert outcome["outcome"] == "ok"


async def test_a_mixed_case_form_type_confirms_a_prod_order(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    form = order_form(csrf, "prod", client_order_id=_coid(), quantity="4", symbol="ORCL")
    ask = await console.post("/prod/orders", content=urlencode(form), headers=MIXED_CASE_FORM)
    assert 'data-confirm="order.place"' in ask.text
    confirmed = {**hidden_fields(ask.text, "confirm-form"), "typed_env": "prod", "typed_target": "BUY 4 ORCL"}
    head = audit_head(console_db)
    done = await console.post("/prod/orders", content=urlencode(confirmed), headers=MIXED_CASE_FORM)
    assert done.status_code == 303, done.text  # was a 500: the record said "prompt", the endpoint acted
    assert len(_held(raptors["prod"], form["client_order_id"])) == 1
    recorded = [(e["action"], e["phase"], e["outcome"]) for e in audit_events(console_db, since_seq=head)]
    assert recorded == [("order.place", "attempt", None), ("order.place", "outcome", "ok")]


async def test_a_failed_sign_in_in_mixed_case_records_the_name_tried(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    page = await console.get("/login")
    csrf = hidden_fields(page.text)["csrf_token"]
    head = audit_head(console_db)
    body = urlencode({"csrf_token": csrf, "username": "alice", "password": "wrong-guess-1", "next": ""})
    refused = await console.post("/login", content=body, headers=MIXED_CASE_FORM)
    assert refused.status_code == 401
    [attempt] = [e for e in audit_events(console_db, since_seq=head) if e["phase"] == "attempt"]
    assert (attempt["action"], attempt["actor_name"]) == ("auth.login", "alice")


#: Nested far past any parser's depth, within CONSOLE_MAX_BODY_BYTES (a larger body is a 413 at the entrance).
DEEP_JSON = b'{"reason":' + b"[" * 30_000 + b"]" * 30_000 + b"}"


@pytest.mark.parametrize("path", ["/login", "/switch", "/staging/trading/halt", "/tokens"])
async def test_json_nested_past_the_parsers_depth_is_refused_and_recorded(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, path: str
) -> None:
    await signed_in(console)
    head = audit_head(console_db)
    refused = await console.post(path, content=DEEP_JSON, headers={"Content-Type": "application/json"})
    assert 400 <= refused.status_code < 500, refused.text  # was a 500 (RecursionError), with no record
    phases = [e["phase"] for e in audit_events(console_db, since_seq=head)]
    assert phases[:2] == ["attempt", "outcome"]


async def test_deep_json_on_the_api_is_invalid_json(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "alice")
    head = audit_head(console_db)
    refused = await console.post(
        "/api/staging/trading/halt", content=DEEP_JSON, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_json")
    outcome = [e for e in audit_events(console_db, since_seq=head) if e["phase"] == "outcome"]
    assert [(e["action"], e["outcome"], e["http_status"]) for e in outcome] == [("trading.halt", "failed", 400)]


async def test_a_form_that_names_its_environment_twice_is_refused_and_recorded(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    csrf = await signed_in(console)
    form = order_form(csrf, "staging", client_order_id=_coid(), symbol="ZS")
    fields = [("environment", "prod"), *form.items()]  # the form's own environment=staging comes last
    head = audit_head(console_db)
    refused = await console.post("/staging/orders", content=urlencode(fields), headers=FORM)
    assert refused.status_code == 422, refused.text
    assert 'data-field-error="environment"' in refused.text or "given more than once" in refused.text
    assert not _held(raptors["staging"], form["client_order_id"])
    attempt, outcome = [e for e in audit_events(console_db, since_seq=head) if e["action"] == "order.place"]
    assert attempt["params"]["environment"] == ["prod", "staging"]  # what the form claimed, both
    assert attempt["environment"] == "staging"  # the URL's, where it would have acted
    assert (outcome["outcome"], outcome["http_status"]) == ("failed", 422)
    assert "environment: given more than once" in outcome["error"]


async def test_two_confirmation_headers_confirm_nothing(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "alice")
    body = order(symbol="MSFT")
    headers = [*bearer(token).items(), ("X-Raxx-Confirm", "prod"), ("X-Raxx-Confirm", "staging")]
    refused = await console.post("/api/prod/orders", json=body, headers=headers)
    assert refused.status_code == 428, refused.text
    assert "sent more than once" in refused.json()["detail"]
    assert not _held(raptors["prod"], str(body["client_order_id"]))


async def test_two_bearer_tokens_act_for_nobody(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    """Two ``Authorization`` headers, two users: which one acts is not guessed (it was the
    first), on a read (either door) or a mutation, and the refused mutation is recorded."""
    tokens = [await new_token(console_db, "alice"), await new_token(console_db, "olga")]
    headers = [("Authorization", f"Bearer {token}") for token in tokens]
    body = order(symbol="MSFT")
    head = audit_head(console_db)
    placed = await console.post("/api/staging/orders", json=body, headers=headers)
    read = await console.get("/api/staging/orders", headers=headers)
    for refused in (placed, read):
        assert (refused.status_code, refused.json()["error"]) == (400, "repeated_header"), refused.text
        assert refused.json()["header"] == "authorization"
    assert not _held(raptors["staging"], str(body["client_order_id"]))
    [outcome] = [e for e in audit_events(console_db, since_seq=head) if e["phase"] == "outcome"]
    assert (outcome["action"], outcome["http_status"], outcome["actor_name"]) == ("order.place", 400, None)


async def test_a_mutation_refuses_a_query_it_would_ignore(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "alice")
    resting = order(type="limit", limit_price="1", symbol="AAPL")
    assert (await console.post("/api/staging/orders", json=resting, headers=bearer(token))).status_code == 201
    refused = await console.delete("/api/staging/orders", params={"symbol": "MSFT"}, headers=bearer(token))
    assert (refused.status_code, refused.json()["error"]) == (400, "unexpected_query")
    [still] = _held(raptors["staging"], str(resting["client_order_id"]))
    assert still["status"] == "new"  # nothing was cancelled


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_the_api_reads_only_json_bodies(
    console: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    raptors: dict[str, RunningRaptor],
    content_type: str | None,
) -> None:
    token = await new_token(console_db, "alice")
    body = order(symbol="TXN")
    sent = await console.post(
        "/api/staging/orders",
        content=httpx.Request("POST", "/", json=body).content,
        headers={**bearer(token), **({"Content-Type": content_type} if content_type else {})},
    )
    assert (sent.status_code, sent.json()["error"]) == (415, "unsupported_media_type")
    assert not _held(raptors["staging"], str(body["client_order_id"]))
    mixed = await console.post(
        "/api/staging/orders", json=body, headers={**bearer(token), "Content-Type": "Application/JSON"}
    )
    assert mixed.status_code == 201, mixed.text


async def test_a_form_too_large_to_read_is_refused_before_it_is_read(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """It was read whole (2 MB) and refused by the form parser; now the entrance refuses it 413
    (``CONSOLE_MAX_BODY_BYTES``) before a byte is read: no action begins, so none is recorded."""
    csrf = await signed_in(console)
    head = audit_head(console_db)
    body = urlencode({"csrf_token": csrf, "environment": "staging", "junk": "x" * (2 * 1024 * 1024)})
    refused = await console.post("/staging/orders/cancel-all", content=body, headers=FORM)
    assert refused.status_code == 413, refused.text
    assert 'data-env="staging"' in refused.text  # the error page keeps the banner
    assert audit_events(console_db, since_seq=head) == []


async def test_a_form_the_parser_refuses_is_refused_in_the_record(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """Within the size limit, a form the parser will not read (more fields than it takes) is the
    action's refusal, recorded."""
    csrf = await signed_in(console)
    head = audit_head(console_db)
    fields = [("csrf_token", csrf), ("environment", "staging"), *((f"f{n}", "") for n in range(1500))]
    refused = await console.post("/staging/orders/cancel-all", content=urlencode(fields), headers=FORM)
    assert refused.status_code == 400, refused.text
    outcome = [e for e in audit_events(console_db, since_seq=head) if e["phase"] == "outcome"]
    assert [(e["action"], e["outcome"]) for e in outcome] == [("order.cancel_all", "failed")]
    assert outcome[0]["error"].startswith("unreadable_form:")
