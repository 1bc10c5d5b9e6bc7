from __future__ import annotations

import logging
import os
import subprocess
import sys

import psycopg
import pytest
from click.testing import CliRunner

from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.commands import raptor
from raxx.raptor.token.format import hash_secret, parse_token
from tests.fixtures.apps import asgi_client, raptor_client, raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, auth, issue, order_body


async def test_only_the_hash_of_the_secret_is_stored(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    token = issue(raptor_db, "staging", "read", name="reporting")
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.environment == "staging"
    with psycopg.connect(test_databases.superuser_url(raptor_db.database)) as conn:
        row = conn.execute("SELECT * FROM api_tokens").fetchone()
        text_dump = str(row)
    assert row is not None
    assert parsed.secret not in text_dump
    assert hash_secret(parsed.secret) in text_dump


async def test_a_staging_token_sent_to_prod_is_wrong_environment(test_databases: DatabaseFactory) -> None:
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    staging_token = issue(staging_db, "staging", "trade")
    prod_token = issue(prod_db, "prod", "trade")
    async with (
        raptor_client(prod_db, "prod", **QUIET) as prod,
        raptor_client(staging_db, "staging", **QUIET) as staging,
    ):
        refused = await prod.get("/v1/orders", headers=auth(staging_token))
        refused_post = await prod.post("/v1/orders", json=order_body(), headers=auth(staging_token))
        reverse = await staging.get("/v1/orders", headers=auth(prod_token))
        accepted = await prod.get("/v1/orders", headers=auth(prod_token))
        listed = (await prod.get("/v1/orders", headers=auth(prod_token))).json()["orders"]
    assert refused.status_code == 401
    assert refused.json()["error"] == "wrong_environment"
    assert refused_post.status_code == 401
    assert refused_post.json()["error"] == "wrong_environment"
    assert reverse.status_code == 401
    assert reverse.json()["error"] == "wrong_environment"
    assert accepted.status_code == 200
    assert listed == []


async def test_a_prod_token_stored_in_the_staging_database_is_still_refused(raptor_db: ProvisionedDatabase) -> None:
    # Issued by mistake into the wrong database: the environment in the token decides.
    misplaced = issue(raptor_db, "prod", "trade")
    async with raptor_client(raptor_db, "staging", **QUIET) as client:
        response = await client.get("/v1/orders", headers=auth(misplaced))
    assert response.status_code == 401
    assert response.json()["error"] == "wrong_environment"


async def test_missing_malformed_forged_and_revoked_tokens_get_401(raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "read")
    parsed = parse_token(token)
    assert parsed is not None
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unknown = f"rxp_staging_{'0' * 16}_{parsed.secret}"
    async with raptor_client(raptor_db, "staging", **QUIET) as client:
        results = {
            "none": await client.get("/v1/orders"),
            "basic": await client.get("/v1/orders", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
            "malformed": await client.get("/v1/orders", headers=auth("not-a-token")),
            "forged": await client.get("/v1/orders", headers=auth(forged)),
            "unknown": await client.get("/v1/orders", headers=auth(unknown)),
        }
        ok = await client.get("/v1/orders", headers=auth(token))
        CliRunner().invoke(raptor, ["token", "revoke", parsed.token_id, "--database-url", raptor_db.runtime_url])
        revoked = await client.get("/v1/orders", headers=auth(token))
    assert ok.status_code == 200
    assert {name: r.status_code for name, r in results.items()} == dict.fromkeys(results, 401)
    assert results["none"].json()["error"] == "unauthorized"
    assert {results[n].json()["error"] for n in ("malformed", "forged", "unknown")} == {"invalid_token"}
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]


async def test_scopes_trade_and_admin_imply_read_and_nothing_more(raptor_db: ProvisionedDatabase) -> None:
    read, trade, admin = (issue(raptor_db, "staging", s) for s in ("read", "trade", "admin"))
    async with raptor_client(raptor_db, "staging", **QUIET) as client:
        read_post = await client.post("/v1/orders", json=order_body(), headers=auth(read))
        trade_post = await client.post("/v1/orders", json=order_body(), headers=auth(trade))
        trade_halt = await client.post("/v1/trading/halt", json={"reason": "x"}, headers=auth(trade))
        admin_post = await client.post("/v1/orders", json=order_body(), headers=auth(admin))
        reads = [await client.get("/v1/orders", headers=auth(t)) for t in (read, trade, admin)]
        admin_halt = await client.post("/v1/trading/halt", json={"reason": "x"}, headers=auth(admin))
    assert read_post.status_code == 403
    assert read_post.json()["error"] == "insufficient_scope"
    assert trade_post.status_code == 201
    assert trade_halt.status_code == 403
    assert admin_post.status_code == 403
    assert [r.status_code for r in reads] == [200, 200, 200]
    assert admin_halt.status_code == 200


def _raxx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real command line, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "raxx", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_cli_issues_once_lists_and_revokes(raptor_db: ProvisionedDatabase) -> None:
    env = {"RAPTOR_DATABASE_URL": raptor_db.runtime_url, "RAPTOR_ENVIRONMENT": "staging"}
    issued = _raxx(
        "raptor", "token", "issue", "--env", "staging", "--scope", "trade", "--scope", "admin", "--name", "ops", env=env
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    parsed = parse_token(token)
    assert parsed is not None
    assert parsed.environment == "staging"
    assert "not shown again" in issued.stderr
    listed = _raxx("raptor", "token", "list", env=env)
    assert parsed.token_id in listed.stdout
    assert "trade,admin" in listed.stdout
    assert "ops" in listed.stdout
    assert parsed.secret not in listed.stdout
    refused = _raxx("raptor", "token", "issue", "--env", "prod", "--scope", "read", env=env)
    assert refused.returncode == 78
    assert "RAPTOR_ENVIRONMENT" in refused.stderr
    assert _raxx("raptor", "token", "revoke", parsed.token_id, env=env).returncode == 0
    assert "revoked" in _raxx("raptor", "token", "list", env=env).stdout
    missing = _raxx("raptor", "token", "revoke", "ffffffffffffffff", env=env)
    assert missing.returncode != 0
    assert "no token" in missing.stderr


def test_cli_refuses_a_database_that_holds_another_environments_tokens(raptor_db: ProvisionedDatabase) -> None:
    # The database of prod (its tokens say so), reached by a mistyped --database-url or an unset
    # RAPTOR_ENVIRONMENT: a staging token written there would be refused by both deployments.
    issue(raptor_db, "prod", "read")
    refused = _raxx("raptor", "token", "issue", "--env", "staging", "--scope", "read", env=_cli_env(raptor_db))
    assert refused.returncode == 78, refused.stderr
    assert "this database holds prod tokens" in refused.stderr
    assert [t.split()[1] for t in _raxx("raptor", "token", "list", env=_cli_env(raptor_db)).stdout.splitlines()] == [
        "prod"
    ]


def test_cli_revokes_by_the_whole_token_without_repeating_it(raptor_db: ProvisionedDatabase) -> None:
    token = issue(raptor_db, "staging", "read")
    parsed = parse_token(token)
    assert parsed is not None
    done = _raxx("raptor", "token", "revoke", token, env=_cli_env(raptor_db))
    assert (done.returncode, done.stdout.strip()) == (0, f"revoked {parsed.token_id}")
    assert parsed.secret not in done.stdout + done.stderr
    garbled = _raxx("raptor", "token", "revoke", token[:-3] + "!!!", env=_cli_env(raptor_db))
    assert garbled.returncode != 0
    assert "16 hex characters" in garbled.stderr
    assert parsed.secret[:-3] not in garbled.stderr  # nothing of the secret comes back


def _cli_env(db: ProvisionedDatabase) -> dict[str, str]:
    return {"RAPTOR_DATABASE_URL": db.runtime_url}


async def test_every_refused_cross_environment_token_is_logged_and_counted(
    test_databases: DatabaseFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Both doors (the order fast path, the routed endpoints) refuse through the one verifier,
    which logs the claimed environment and the token's public id, never its secret, and counts."""
    staging_db, prod_db = test_databases.fresh("raptor"), test_databases.fresh("raptor")
    staging_token = issue(staging_db, "staging", "trade")
    parsed = parse_token(staging_token)
    assert parsed is not None
    app = create_raptor_app(raptor_settings(prod_db, "prod", **QUIET))
    caplog.set_level(logging.WARNING, logger="raxx.raptor.token")
    async with asgi_client(app) as prod:
        answers = [
            await prod.get("/v1/orders", headers=auth(staging_token)),  # fast path
            await prod.post("/v1/orders", json=order_body(), headers=auth(staging_token)),  # fast path
            await prod.get("/v1/positions", headers=auth(staging_token)),  # routed
        ]
        counter = app.state.raptor.tokens.wrong_environment
    assert [a.json()["error"] for a in answers] == ["wrong_environment"] * 3
    assert counter == {"staging": 3}
    refused = [r for r in caplog.records if r.getMessage() == "raptor.token.wrong_environment"]
    assert [(r.claimed_environment, r.token_id, r.refused_total) for r in refused] == [  # type: ignore[attr-defined]
        ("staging", parsed.token_id, 1),
        ("staging", parsed.token_id, 2),
        ("staging", parsed.token_id, 3),
    ]
    assert all(r.environment == "prod" for r in refused)  # type: ignore[attr-defined]
    assert parsed.secret not in caplog.text
    assert all(parsed.secret not in str(r.__dict__) for r in caplog.records)
