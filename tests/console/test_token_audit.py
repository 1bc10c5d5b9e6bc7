"""A personal token's creation and revocation in the audit trail: under the token's environment,
its id and environments in the clear, its plaintext nowhere."""

from __future__ import annotations

import json
import re

import httpx

from raxx.common.provision import ProvisionedDatabase
from tests.console.helpers import audit_events, audit_head, signed_in
from tests.fixtures.apps import csrf_from


async def test_a_prod_token_is_recorded_under_prod_with_its_id_and_never_its_value(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await signed_in(console, "alice")
    csrf = csrf_from((await console.get("/tokens")).text)
    head = audit_head(console_db)
    form = {"csrf_token": csrf, "name": "prod runbook", "environment": "prod", "confirm_env": "prod"}
    created = await console.post("/tokens", data={**form, "expires_days": "7"})
    assert created.status_code == 200, created.text
    plaintext = created.text.split('id="new-token" class="token">', 1)[1].split("<", 1)[0]
    token_id = plaintext.split("_")[1]

    attempt, outcome = audit_events(console_db, since_seq=head)
    assert [(e["action"], e["phase"], e["environment"]) for e in (attempt, outcome)] == [
        ("token.create", "attempt", "prod"),
        ("token.create", "outcome", "prod"),
    ]
    assert outcome["outcome"] == "ok"
    assert (outcome["params"]["token_id"], outcome["params"]["token_environments"]) == (token_id, ["prod"])
    assert attempt["params"]["environment"] == "prod"
    assert attempt["params"]["csrf_token"] == "[redacted]"  # a secret stays one
    assert plaintext.split("_", 2)[2] not in json.dumps([attempt, outcome], default=str)

    listed = await console.get("/prod/audit", params={"environment": "prod", "action": "token.*"})
    assert listed.status_code == 200
    assert "No events match" not in listed.text
    assert len(re.findall(r'<tr data-seq="\d+" data-env="prod"', listed.text)) == 2

    head = audit_head(console_db)
    revoked = await console.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    attempt, outcome = audit_events(console_db, since_seq=head)
    assert [(e["action"], e["environment"], e["target"]) for e in (attempt, outcome)] == [
        ("token.revoke", "prod", token_id),
        ("token.revoke", "prod", token_id),
    ]  # the same id as the creation's: the two can be matched
    assert outcome["params"]["token_environments"] == ["prod"]


async def test_a_token_form_without_an_environment_is_recorded_under_the_default(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    await signed_in(console, "olga")
    csrf = csrf_from((await console.get("/tokens")).text)
    head = audit_head(console_db)
    created = await console.post("/tokens", data={"csrf_token": csrf, "name": "nightly"})
    assert 'data-created-env="staging"' in created.text
    assert [e["environment"] for e in audit_events(console_db, since_seq=head)] == ["staging", "staging"]
