"""The JSON API ``/api/{env}/...``: personal bearer tokens with the user's per-environment roles."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlalchemy import event

from raxx.common.db import create_engine, session_factory
from raxx.common.provision import ProvisionedDatabase
from raxx.common.tracing import trace_id_of
from raxx.console.apitoken import service as tokens
from raxx.console.commands import console as console_cli
from raxx.console.raptor.connection import ConnectRefused
from raxx.console.raptor.identity import IdentityStatus
from tests.console.conftest import RunningRaptor, add_team
from tests.console.helpers import audit_events, outcomes, raptor_orders, second_browser, signed_in


async def new_token(
    db: ProvisionedDatabase,
    user: str,
    *,
    expires_days: int | None = None,
    environments: tuple[str, ...] = ("staging", "prod"),
) -> str:
    engine = create_engine(db.runtime_url, application_name="test", pool_size=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            created = await tokens.create(
                session, user_name=user, name="test script", expires_days=expires_days, environments=environments
            )
    finally:
        await engine.dispose()
    return created.plaintext


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {"symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"}
    body["client_order_id"] = f"api-{uuid.uuid4().hex}"
    body.update(fields)
    return body


async def test_reads_pass_raptors_answer_through(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "alice")
    placed = await console.post("/api/staging/orders", json=order(symbol="AMZN"), headers=bearer(token))
    assert placed.status_code == 201, placed.text
    listed = await console.get("/api/staging/orders", params={"symbol": "AMZN", "limit": 5}, headers=bearer(token))
    assert listed.status_code == 200
    with raptors["staging"].direct() as direct:
        assert listed.json() == direct.get("/v1/orders", params={"symbol": "AMZN", "limit": 5}).json()
    one = await console.get(f"/api/staging/orders/{placed.json()['id']}", headers=bearer(token))
    assert one.json()["client_order_id"] == placed.json()["client_order_id"]
    for path in ("positions", "account", "trading"):
        assert (await console.get(f"/api/prod/{path}", headers=bearer(token))).status_code == 200
    who = await console.get("/api/whoami", headers=bearer(token))
    assert who.json()["roles"] == {"staging": "admin", "prod": "admin"}
    assert who.json()["environments"] == ["prod", "staging"]
    identity = await console.get("/api/prod/identity", headers=bearer(token))
    assert identity.json()["identity"]["environment"] == "prod"


async def test_a_token_acts_only_in_the_environment_it_was_made_for(
    console_asgi: FastAPI,
    console: httpx.AsyncClient,
    console_db: ProvisionedDatabase,
    raptors: dict[str, RunningRaptor],
) -> None:
    token = await new_token(console_db, "alice", environments=("staging",))  # alice is admin in both
    assert (await console.get("/api/staging/orders", headers=bearer(token))).status_code == 200
    before = len(raptor_orders(raptors["prod"]))
    refusals = [
        await console.get("/api/prod/orders", headers=bearer(token)),  # the fast path hands it to the route
        await console.get("/api/prod/positions", headers=bearer(token)),
        await console.post(
            "/api/prod/orders", json=order(symbol="XOM"), headers={**bearer(token), "X-Raxx-Confirm": "prod"}
        ),
        await console.post(
            "/api/prod/trading/halt", json={"reason": "x"}, headers={**bearer(token), "X-Raxx-Confirm": "prod"}
        ),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        body = refused.json()
        assert body["error"] == "token_out_of_scope"  # the one error shape
        assert "acts only in staging, not in prod" in body["detail"]
    assert len(raptor_orders(raptors["prod"])) == before  # nothing reached prod
    who = (await console.get("/api/whoami", headers=bearer(token))).json()
    assert (who["environments"], who["roles"]) == (["staging"], {"staging": "admin"})
    denied = outcomes(console_db, action="order.place")[-1]
    assert (denied["outcome"], denied["environment"], denied["http_status"]) == ("denied", "prod", 403)


async def test_place_is_idempotent_and_names_the_api_actor(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "olga")
    body = order(symbol="META", quantity="2.5")
    first = await console.post("/api/staging/orders", json=body, headers=bearer(token))
    again = await console.post("/api/staging/orders", json=body, headers=bearer(token))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["quantity"] == "2.5"
    [held] = [o for o in raptor_orders(raptors["staging"]) if o["client_order_id"] == body["client_order_id"]]
    assert held["actor"] == "olga (api)"
    assert held["request_id"] == first.headers["x-request-id"]
    [audited] = [e for e in outcomes(console_db, action="order.place") if e["request_id"] == held["request_id"]]
    assert (audited["actor_name"], audited["environment"], audited["outcome"]) == ("olga", "staging", "ok")
    assert audited["params"]["channel"] == "api"
    assert audited["session_hash"] is None  # a token, not a session, acted


JSON_TYPE = {"content-type": "application/json"}


async def test_cancel_and_cancel_all(console: httpx.AsyncClient, console_db: ProvisionedDatabase) -> None:
    token = await new_token(console_db, "alice")
    resting = await console.post(
        "/api/staging/orders", json=order(type="limit", limit_price="1.25", symbol="CAT"), headers=bearer(token)
    )
    canceled = await console.delete(f"/api/staging/orders/{resting.json()['id']}", headers=bearer(token))
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    # The same order written another way UUIDs are written: one order, one target in the trail.
    spelled = "{" + resting.json()["id"].upper() + "}"
    again = await console.delete(f"/api/staging/orders/{spelled}", headers=bearer(token))
    assert again.json()["status"] == "canceled"  # idempotent
    targets = [e["target"] for e in audit_events(console_db) if e["action"] == "order.cancel"]
    assert targets == [resting.json()["id"]] * 4, targets  # attempt and outcome, twice
    await console.post(
        "/api/staging/orders", json=order(type="limit", limit_price="1", symbol="CAT"), headers=bearer(token)
    )
    # A filter in the body it takes none of: refused, nothing canceled (the CAT order stays open).
    widened = await console.request(
        "DELETE", "/api/staging/orders", content=b'{"symbol":"AAPL"}', headers={**bearer(token), **JSON_TYPE}
    )
    assert (widened.status_code, widened.json()["error"]) == (400, "unexpected_body"), widened.text
    result = await console.request(
        "DELETE", "/api/staging/orders", content=b"{}", headers={**bearer(token), **JSON_TYPE}
    )
    assert result.status_code == 200
    assert len(result.json()["canceled"]) >= 1
    # The halt takes a text reason and nothing else.
    for body in ({"reason": 123}, {"reason": "drill", "extra": 1}):
        halted = await console.post("/api/staging/trading/halt", json=body, headers=bearer(token))
        assert (halted.status_code, halted.json()["error"]) == (422, "validation_error"), (body, halted.text)
    assert [e["outcome"] for e in outcomes(console_db, action="trading.halt")] == ["failed", "failed"]


async def test_a_trailing_slash_is_a_404_never_a_redirect(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """An order id left empty (``DELETE /api/staging/orders/``) must not become cancel-all, and
    no Location is built from the Host header."""
    token = await new_token(console_db, "alice")
    resting = await console.post(
        "/api/staging/orders", json=order(type="limit", limit_price="1.25", symbol="CAT"), headers=bearer(token)
    )
    for method, path in (("DELETE", "/api/staging/orders/"), ("POST", "/api/staging/trading/halt/")):
        answer = await console.request(
            method, path, headers={**bearer(token), "Host": "evil.example"}, follow_redirects=True
        )
        assert answer.status_code == 404, (path, answer.text)
        assert "location" not in answer.headers
    still = await console.get(f"/api/staging/orders/{resting.json()['id']}", headers=bearer(token))
    assert still.json()["status"] == "new"
    assert not outcomes(console_db, action="order.cancel_all")


async def test_every_mutation_gets_a_request_id_of_the_consoles_own(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    """A script that sends one X-Request-ID with every call: Raptor's request log keeps the
    first action of an id, so the console's audit reconciler could only be told of that one.
    The console names its reads by the caller's id and mints a new one for each mutation."""
    token = await new_token(console_db, "alice")
    reused = {**bearer(token), "X-Request-ID": "script-run-7"}
    resting = order(type="limit", limit_price="1", symbol="DE")
    placed = await console.post("/api/staging/orders", json=resting, headers=reused)
    canceled = await console.delete(f"/api/staging/orders/{placed.json()['id']}", headers=reused)
    read = await console.get("/api/staging/orders", params={"limit": "1"}, headers=reused)
    assert (placed.status_code, canceled.status_code, read.status_code) == (201, 200, 200)
    assert read.headers["x-request-id"] == "script-run-7"
    ids = {placed.headers["x-request-id"], canceled.headers["x-request-id"]}
    assert len(ids) == 2
    assert "script-run-7" not in ids
    with raptors["staging"].direct() as raptor:
        found = {rid: raptor.get(f"/v1/requests/{rid}").json() for rid in ids}
    assert found[placed.headers["x-request-id"]]["action"] == "order.submit"
    assert found[canceled.headers["x-request-id"]]["action"] == "order.cancel"
    audited = {e["request_id"]: e["action"] for e in outcomes(console_db) if e["request_id"] in ids}
    assert audited == {placed.headers["x-request-id"]: "order.place", canceled.headers["x-request-id"]: "order.cancel"}


async def test_protected_actions_need_the_environment_named_in_a_header(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase, raptors: dict[str, RunningRaptor]
) -> None:
    token = await new_token(console_db, "alice")
    body = order(symbol="HD")
    refused = await console.post("/api/prod/orders", json=body, headers=bearer(token))
    assert refused.status_code == 428
    assert refused.json()["error"] == "confirmation_required"
    assert "X-Raxx-Confirm: prod" in refused.json()["detail"]
    wrong = await console.post("/api/prod/orders", json=body, headers={**bearer(token), "X-Raxx-Confirm": "staging"})
    assert wrong.status_code == 428
    assert not [o for o in raptor_orders(raptors["prod"]) if o["client_order_id"] == body["client_order_id"]]
    done = await console.post("/api/prod/orders", json=body, headers={**bearer(token), "X-Raxx-Confirm": "prod"})
    assert done.status_code == 201
    halt = await console.post("/api/prod/trading/halt", json={"reason": "api drill"}, headers=bearer(token))
    assert halt.status_code == 428
    quick = await console.delete(f"/api/prod/orders/{uuid.uuid4()}", headers=bearer(token))
    assert quick.status_code == 404  # a single cancel needs no header in prod (reached Raptor: no such order)
    assert quick.json()["error"] == "order_not_found"
    malformed = await console.delete("/api/prod/orders/not-a-uuid", headers=bearer(token))
    # Answered by the console, in the shape of Raptor's answer for an unknown id.
    assert (malformed.status_code, malformed.json()["environment"]) == (404, quick.json()["environment"])


async def test_roles_apply_per_environment(console: httpx.AsyncClient, console_db: ProvisionedDatabase) -> None:
    token = await new_token(console_db, "olga")  # operator on staging, viewer on prod
    assert (await console.get("/api/prod/orders", headers=bearer(token))).status_code == 200
    refused = await console.post(
        "/api/prod/orders", json={"garbage": True}, headers={**bearer(token), "X-Raxx-Confirm": "prod"}
    )
    assert refused.status_code == 403  # the role is checked before the body
    assert refused.json()["error"] == "permission_denied"
    assert refused.json()["environment"] == "prod"
    halt = await console.post("/api/staging/trading/halt", json={"reason": "x"}, headers=bearer(token))
    assert halt.status_code == 403
    victor = await new_token(console_db, "victor")
    assert (await console.get("/api/prod/orders", headers=bearer(victor))).status_code == 403


async def test_bad_input_gets_the_one_error_shape(console: httpx.AsyncClient, console_db: ProvisionedDatabase) -> None:
    token = await new_token(console_db, "alice")
    bad = await console.post("/api/staging/orders", json=order(quantity="lots", colour="red"), headers=bearer(token))
    assert bad.status_code == 422
    assert bad.json()["error"] == "validation_error"
    assert {d["field"] for d in bad.json()["detail"]} == {"quantity", "colour"}
    twice = await console.post(
        "/api/staging/orders",
        content=b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1","quantity":"1000000"}',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert (twice.status_code, [d["field"] for d in twice.json()["detail"]]) == (422, ["quantity"]), twice.text
    key = await console.post("/api/staging/orders", json=order(client_order_id="a b"), headers=bearer(token))
    assert key.json()["detail"] == [
        {
            "field": "client_order_id",
            "message": "1 to 128 letters, digits and . _ : - (on the order page: open a fresh order form)",
        }
    ]
    assert bad.json()["request_id"] == bad.headers["x-request-id"]
    not_json = await console.post(
        "/api/staging/orders", content=b"{nope", headers={**bearer(token), "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"] == "invalid_json"
    wrong_method = await console.put("/api/staging/trading", headers=bearer(token))
    assert (wrong_method.status_code, wrong_method.headers.get("allow")) == (405, "GET"), wrong_method.headers
    assert wrong_method.json()["error"] == "method_not_allowed"
    unknown_env = await console.get("/api/qa/orders", headers=bearer(token))
    assert unknown_env.status_code == 404
    assert unknown_env.json()["error"] == "unknown_environment"
    raptor_says = await console.get("/api/staging/orders", params={"limit": "0"}, headers=bearer(token))
    assert raptor_says.status_code == 422
    # Raptor's refusal of a read keeps the documented validation_error shape: the fields, listed.
    assert raptor_says.json()["error"] == "validation_error"
    assert [d["field"] for d in raptor_says.json()["detail"]] == ["limit"], raptor_says.json()
    assert raptor_says.json()["environment"] == "staging"
    # A price as a JSON number with a fraction: the parser made it 100.0001, higher than sent.
    inexact = await console.post(
        "/api/staging/orders",
        content=b'{"symbol":"AAPL","side":"buy","type":"limit","quantity":"1","limit_price":100.00009999999999999}',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert inexact.status_code == 422, inexact.text
    assert [d["field"] for d in inexact.json()["detail"]] == ["limit_price"]
    assert "written as a string" in inexact.json()["detail"][0]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWxpY2U6eA=="},
        {"Authorization": "Bearer rxc_0000000000000000_" + "a" * 43},
        {"Authorization": "Bearer not-a-token"},
    ],
)
async def test_no_valid_token_is_a_401(console: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await console.get("/api/staging/orders", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] in ("unauthorized", "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_session_cookie_is_never_accepted_on_the_api(console: httpx.AsyncClient) -> None:
    await signed_in(console)  # the client now holds a valid session cookie
    response = await console.get("/api/staging/orders")
    assert response.status_code == 401
    forged = await console.post("/api/staging/orders", json=order())
    assert forged.status_code == 401


async def test_revoked_and_expired_tokens_stop_working(
    console_asgi: FastAPI, console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    token = await new_token(console_db, "alice")
    assert (await console.get("/api/whoami", headers=bearer(token))).status_code == 200
    token_id = token.split("_")[1]
    await signed_in(console)
    page = await console.get("/tokens")
    assert f'data-token-id="{token_id}"' in page.text
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    revoked = await console.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    async with second_browser(console_asgi) as script:
        response = await script.get("/api/whoami", headers=bearer(token))
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]


async def test_requests_that_miss_the_token_cache_together_share_one_read(console_db: ProvisionedDatabase) -> None:
    """At the moment a cached token expires, every request in flight with it needs its owner:
    one read (and one ``last_used_at`` touch) answers them all; a later miss reads again."""
    await add_team(console_db)
    token = await new_token(console_db, "alice")
    engine = create_engine(console_db.runtime_url, application_name="test", pool_size=4)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    verifier = tokens.ApiTokenVerifier(engine, cache_seconds=60)
    try:
        owners = await asyncio.gather(*(verifier.verify(token) for _ in range(32)))
        assert {owner.user_name for owner in owners} == {"alice"}
        together = list(statements)
        verifier.forget(token.split("_")[1])
        await verifier.verify(token)
        alone = statements[len(together) :]
        assert together == alone  # 32 requests cost the statements of one
        assert any(s.lstrip().upper().startswith("UPDATE") for s in alone)
    finally:
        await engine.dispose()


async def test_a_role_change_applies_to_the_users_tokens(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    token = await new_token(console_db, "victor")
    assert (await console.get("/api/prod/orders", headers=bearer(token))).status_code == 403
    csrf = await signed_in(console, "alice")
    await console.post(
        "/prod/users/role", data={"csrf_token": csrf, "environment": "prod", "user": "victor", "role": "viewer"}
    )
    assert (await console.get("/api/prod/orders", headers=bearer(token))).status_code == 200


async def test_tokens_from_the_cli_are_printed_once_and_listed_without_secret(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    runner = CliRunner()
    url = ["--database-url", console_db.runtime_url]
    created = runner.invoke(console_cli, ["token", "create", "runbook", "--user", "olga", "--expires-days", "30", *url])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("rxc_")
    who = await console.get("/api/whoami", headers=bearer(plaintext))
    assert (who.json()["user"], who.json()["environments"]) == ("olga", ["staging"])  # staging by default
    listed = runner.invoke(console_cli, ["token", "list", *url])
    assert "runbook" in listed.output
    [row] = [line for line in listed.output.splitlines() if "runbook" in line]
    assert " staging " in row
    unconfirmed = runner.invoke(console_cli, ["token", "create", "p", "--user", "olga", "--env", "prod", *url])
    assert unconfirmed.exit_code == 2
    assert "prod is protected: add --confirm prod" in unconfirmed.output
    typo = runner.invoke(console_cli, ["token", "create", "p", "--user", "olga", "--env", "prdo", *url])
    assert typo.exit_code == 2
    assert "(one of: staging, prod)" in typo.output
    both = runner.invoke(
        console_cli,
        ["token", "create", "both", "--user", "olga", "--env", "staging", "--env", "prod", "--confirm", "prod", *url],
    )
    assert both.exit_code == 0, both.output
    assert "only in: prod, staging" in both.stderr
    assert plaintext.split("_", 2)[2] not in listed.output
    token_id = plaintext.split("_")[1]
    assert runner.invoke(console_cli, ["token", "revoke", token_id, *url]).exit_code == 0
    unknown = runner.invoke(console_cli, ["token", "create", "x", "--user", "nobody", *url])
    assert unknown.exit_code != 0


async def test_web_page_creates_a_token_shown_once(console: httpx.AsyncClient) -> None:
    await signed_in(console, "olga")
    page = await console.get("/tokens")
    assert 'data-env="none"' in page.text
    assert "Affects every environment" not in page.text
    assert "acts in the environment chosen when it was made, and nowhere else" in page.text
    assert '<option value="staging" selected>' in page.text  # staging by default
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    created = await console.post("/tokens", data={"csrf_token": csrf, "name": "my script", "expires_days": "7"})
    assert created.status_code == 200
    assert 'data-created-env="staging"' in created.text
    plaintext = created.text.split('id="new-token" class="token">', 1)[1].split("<", 1)[0]
    who = (await console.get("/api/whoami", headers=bearer(plaintext))).json()
    assert (who["user"], who["environments"]) == ("olga", ["staging"])
    listed = (await console.get("/tokens")).text
    assert plaintext not in listed
    assert 'data-token-envs="staging"' in listed
    # Prod only with its name typed: otherwise the form comes back marked and nothing is made.
    prod = {"csrf_token": csrf, "name": "prod script", "expires_days": "7", "environment": "prod"}
    unconfirmed = await console.post("/tokens", data=prod)
    assert unconfirmed.status_code == 422
    assert 'data-field-error="confirm_env"' in unconfirmed.text
    assert "new-token" not in unconfirmed.text
    unknown = await console.post("/tokens", data={**prod, "environment": "qa"})
    assert 'data-field-error="environment"' in unknown.text
    confirmed = await console.post("/tokens", data={**prod, "confirm_env": " PROD"})
    assert 'data-created-env="prod"' in confirmed.text
    prod_token = confirmed.text.split('id="new-token" class="token">', 1)[1].split("<", 1)[0]
    assert (await console.get("/api/prod/trading", headers=bearer(prod_token))).status_code == 200
    assert (await console.get("/api/staging/trading", headers=bearer(prod_token))).status_code == 403
    bad = await console.post("/tokens", data={"csrf_token": csrf, "name": "", "expires_days": "forever"})
    assert bad.status_code == 422
    assert 'data-field-error="expires_days"' in bad.text
    # Digits of other scripts are no number here: a fullwidth one was read as 1 day, a superscript
    # two crashed the page.
    for days in ("\uff11", "\u00b2", "\u0665"):
        odd = await console.post("/tokens", data={"csrf_token": csrf, "name": "odd", "expires_days": days})
        assert odd.status_code == 422, (days, odd.status_code)
        assert 'data-field-error="expires_days"' in odd.text


async def test_reads_answer_the_same_whether_identity_is_fresh_or_in_doubt(
    console_asgi: FastAPI, console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """A fresh identity lets the plain-ASGI read path answer (``api_fast``); otherwise the routed
    endpoint re-checks identity first. Both must give the same answers, refusals included."""
    token = await new_token(console_db, "alice")
    await console.post("/api/staging/orders", json=order(symbol="DIS"), headers=bearer(token))
    some_id = str(uuid.uuid4())
    requests = [
        ("/api/staging/orders", {"symbol": "DIS"}),
        ("/api/staging/orders", {"limit": "0"}),
        (f"/api/staging/orders/{some_id}", {}),
        ("/api/staging/trading", {}),  # (positions and account move with the paper price: not compared)
        ("/api/qa/orders", {}),
    ]
    staging = console_asgi.state.console.clients["staging"]

    async def answers(*, identity_in_doubt: bool) -> list[tuple[int, object, list[tuple[str, str]]]]:
        out = []
        for path, params in requests:
            if identity_in_doubt:  # as after a connection error: identity must be asked again
                staging.status = IdentityStatus()
            response = await console.get(path, params=params, headers=bearer(token))
            body = response.json()
            if isinstance(body, dict) and "error" in body:  # a refusal names this request
                assert body.pop("request_id") == response.headers["x-request-id"]
            # Every header, in order, but the ones that differ per request by design.
            headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "x-request-id")]
            out.append((response.status_code, body, headers))
        return out

    await staging.check_identity(force=True)
    assert staging.verified_fresh()
    fast = await answers(identity_in_doubt=False)
    routed = await answers(identity_in_doubt=True)
    staging.status = IdentityStatus()
    await console.get("/api/staging/trading", headers=bearer(token))
    assert staging.verified_fresh()  # the routed path verified it again before sending the token
    assert fast == routed
    assert [status for status, _, _ in fast] == [200, 422, 404, 200, 404]


def _any_parent(call: tuple[bytes, str, bytes]) -> tuple[bytes, str, bytes]:
    """A call's header lines with the traceparent's random parent id as ``PARENT``."""
    method, target, headers = call
    return method, target, re.sub(rb"(traceparent: 00-[0-9a-f]{32}-)[0-9a-f]{16}(-)", rb"\1PARENT\2", headers)


async def test_both_doors_forward_request_id_and_actor_after_checking_identity(
    console_asgi: FastAPI, console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """Both doors call Raptor through the one client; the token leaves only after identity."""
    token = await new_token(console_db, "alice")
    staging = console_asgi.state.console.clients["staging"]
    await staging.check_identity(force=True)
    sent: list[tuple[bytes, str, bytes]] = []
    original = staging.http.request

    async def spy(method: bytes, target: str, headers: bytes, body: bytes | None = None, **kw: int | None) -> object:
        sent.append((method, target, headers))
        return await original(method, target, headers, body, **kw)

    staging.http.request = spy
    answer = await console.get(
        "/api/staging/orders", params={"limit": "3"}, headers={**bearer(token), "X-Request-ID": "script-42"}
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "script-42"
    authenticated = (
        b"GET",
        "/v1/orders?limit=3",
        f"Authorization: Bearer {staging._token}\r\nAccept: */*\r\n".encode()
        + b"X-Request-ID: script-42\r\nX-Raxx-Actor: alice (api)\r\n"
        # W3C trace context (tracing off): the request id as the trace id, a new parent id, unsampled.
        + f"traceparent: 00-{trace_id_of('script-42')}-PARENT-00\r\n".encode(),
    )
    assert [_any_parent(call) for call in sent] == [authenticated]
    # Identity in doubt: the read path hands on, and the routed endpoint asks who the backend
    # is (no credentials) before the same call leaves.
    staging.status = IdentityStatus()
    sent.clear()
    again = await console.get(
        "/api/staging/orders", params={"limit": "3"}, headers={**bearer(token), "X-Request-ID": "script-42"}
    )
    assert again.status_code == 200
    assert [_any_parent(call) for call in sent] == [
        (b"GET", "/v1/identity", b"Accept: application/json\r\n"),
        authenticated,
    ]
    assert staging.verified_fresh()


async def test_every_door_answers_a_crash_and_a_dead_backend_alike(
    console_asgi: FastAPI, console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    """The read path (identity fresh) and the routed endpoint (identity in doubt, re-checked)
    give the same status, body and headers, from the app's one error handling."""
    token = await new_token(console_db, "alice")
    staging = console_asgi.state.console.clients["staging"]
    # The app as a server runs it (``console`` started its lifespan): a crash is the 500 it answers.
    transport = httpx.ASGITransport(app=console_asgi, raise_app_exceptions=False)
    server = httpx.AsyncClient(transport=transport, base_url=str(console.base_url))

    original = staging.http.request
    failure: Exception = RuntimeError("a bug")

    async def failing(
        method: bytes, target: str, headers: bytes, body: bytes | None = None, **kw: int | None
    ) -> object:
        if target == "/v1/identity":  # who the backend is still comes through
            return await original(method, target, headers, body, **kw)
        raise failure

    staging.http.request = failing

    async def both() -> list[tuple[int, object, list[tuple[str, str]]]]:
        answers = []
        for fresh in (True, False):
            await staging.check_identity(force=True)
            if not fresh:  # as after a connection error: the routed endpoint asks again first
                staging.status = IdentityStatus()
            response = await server.get("/api/staging/orders", headers={**bearer(token), "X-Request-ID": "req-1"})
            headers = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
            answers.append((response.status_code, response.json(), headers))
        return answers

    crashed = await both()
    assert crashed[0] == crashed[1]
    status, body, headers = crashed[0]
    assert status == 500
    assert body == {
        "error": "internal_error",
        "detail": "An unexpected error occurred; nothing more was done.",
        "request_id": "req-1",
    }
    assert ("x-request-id", "req-1") in headers
    assert ("x-content-type-options", "nosniff") in headers
    assert ("cache-control", "no-store") in headers

    failure = ConnectRefused("127.0.0.1:9 refused the connection")
    down = await both()
    staging.http.request = original
    await server.aclose()
    assert down[0] == down[1]
    status, body, headers = down[0]
    assert status == 502
    assert isinstance(body, dict)
    assert body["error"] == "backend_unavailable"
    assert "Nothing was sent" in body["detail"]
    assert ("x-request-id", "req-1") in headers
    assert ("x-frame-options", "DENY") in headers


async def test_the_probes_answer_head_as_uptime_checkers_ask(
    console: httpx.AsyncClient, raptors: dict[str, RunningRaptor]
) -> None:
    """``HEAD /healthz`` was a 405 on both apps: a checker that asks with HEAD saw them down."""
    async with httpx.AsyncClient(base_url=raptors["staging"].url) as raptor:  # a real server: no body sent
        for client in (console, raptor):
            for path in ("/healthz", "/readyz"):
                head = await client.head(path)
                assert (head.status_code, head.content) == (200, b""), (client.base_url, path, head.status_code)
                assert head.headers["content-type"].startswith("application/json")
