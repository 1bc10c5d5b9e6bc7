"""The Heroku process model: Procfile, release phase, RAXX_APP, raxx secrets check, app.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from raxx.cli import _register_groups, cli
from raxx.common.dbbudget import BudgetSettings
from raxx.common.pgembed import free_port
from raxx.common.release import MIGRATIONS_APPLIED_MARKER, NO_MIGRATIONS_MARKER
from raxx.common.secrets import ChainSecrets, EnvironSecrets
from raxx.console.audit.keys import SigningKey
from raxx.runtime import APPS, WEB_APPS, app_spec, heroku_environ, required_secrets
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.fake_infisical import FakeInfisical
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import ThreadedServer, serve

pytestmark = LOOPBACK_ONLY

REPO = Path(__file__).resolve().parents[1]
ALPACA_SECRET = "alpaca-secret-7c1e55d0"  # a value the tests look for in every output


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any app configuration, plus ``extra``."""
    prefixes = ("RAPTOR_", "CONSOLE_", "GATE_", "INFISICAL_", "RAXX_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k != "DATABASE_URL"}
    return {**base, **extra}


def run_raxx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raxx", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def infisical() -> Iterator[tuple[FakeInfisical, ThreadedServer]]:
    fake = FakeInfisical()
    fake.identity("raptor-prod-identity", "ua-secret-prod")
    with serve(fake.app()) as server:
        yield fake, server


def infisical_env(server: ThreadedServer, client_id: str = "raptor-prod-identity") -> dict[str, str]:
    return {
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": client_id,
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "ua-secret-prod",
        "INFISICAL_PROJECT_ID": "proj-raxx",
        "INFISICAL_API_URL": server.url,
    }


# -- Procfile and app.json ---------------------------------------------------------------


def test_the_procfile_serves_and_releases_the_app_configuration_names() -> None:
    processes = dict(line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip())
    assert processes == {"web": "raxx web", "release": "raxx release", "monitor": "raxx monitor"}
    _register_groups()
    assert {"web", "release", "monitor"} <= set(cli.commands)


def test_app_json_describes_every_key_a_heroku_app_can_require() -> None:
    manifest = json.loads((REPO / "app.json").read_text())
    described = set(manifest["env"])
    assert manifest["env"]["RAXX_APP"]["required"] is True
    raptor = ChainSecrets([EnvironSecrets({"RAPTOR_BROKER": "alpaca"})])
    console = ChainSecrets(
        [
            EnvironSecrets(
                {"CONSOLE_ENVIRONMENTS_FILE": str(REPO / manifest["env"]["CONSOLE_ENVIRONMENTS_FILE"]["value"])}
            )
        ]
    )
    needed = set(required_secrets(APPS["raptor"], raptor)) | set(required_secrets(APPS["console"], console))
    # Database URLs come from Heroku Postgres (DATABASE_URL), not from the manifest.
    assert needed - {"RAPTOR_DATABASE_URL", "CONSOLE_DATABASE_URL"} <= described
    assert "RAPTOR_ALPACA_ALLOW_LIVE" not in described  # live trading is never part of a deployment's config
    # The connection budget is declared with the app (an explicit limit is the exception).
    budget = set(BudgetSettings.variables().values()) - {"RAXX_DB_CONNECTION_LIMIT", "RAXX_LEDGER_DB_CONNECTION_LIMIT"}
    assert budget <= described


def test_heroku_database_url_stands_in_for_the_apps_own() -> None:
    spec = APPS["raptor"]
    assert heroku_environ(spec, {"DATABASE_URL": "postgres://h/db"})["RAPTOR_DATABASE_URL"] == "postgres://h/db"
    explicit = {"DATABASE_URL": "postgres://h/db", "RAPTOR_DATABASE_URL": "postgres://other/db"}
    assert heroku_environ(spec, explicit)["RAPTOR_DATABASE_URL"] == "postgres://other/db"


def test_the_consoles_releases_page_reads_the_ledger_attachment_on_heroku() -> None:
    console = APPS["console"]
    attached = {"DATABASE_URL": "postgres://h/console", "GATE_DATABASE_URL": "postgres://h/ledger"}
    assert heroku_environ(console, attached)["CONSOLE_LEDGER_DATABASE_URL"] == "postgres://h/ledger"
    readonly = {**attached, "GATE_READONLY_DATABASE_URL": "postgres://ro@h/ledger"}
    assert heroku_environ(console, readonly)["CONSOLE_LEDGER_DATABASE_URL"] == "postgres://ro@h/ledger"
    explicit = {**readonly, "CONSOLE_LEDGER_DATABASE_URL": "postgres://mine/ledger"}
    assert heroku_environ(console, explicit)["CONSOLE_LEDGER_DATABASE_URL"] == "postgres://mine/ledger"
    assert "CONSOLE_LEDGER_DATABASE_URL" not in heroku_environ(APPS["raptor"], attached)


def test_raxx_app_is_required_and_checked() -> None:
    from raxx.common.errors import ConfigError

    with pytest.raises(ConfigError, match="RAXX_APP is required"):
        app_spec("", web=True)
    with pytest.raises(ConfigError, match="not one of raptor, console"):
        app_spec("gate", web=True)
    assert [app_spec(name, web=True).name for name in WEB_APPS] == ["raptor", "console"]


# -- the release phase -------------------------------------------------------------------


@pytest.mark.parametrize("app", ["raptor", "console"])
def test_release_migrates_the_apps_database_from_heroku_database_url(test_databases: DatabaseFactory, app: str) -> None:
    db = test_databases.empty(APPS[app].tree)
    env = {"RAXX_APP": app, "DATABASE_URL": db.owner_url}
    runner = CliRunner()
    first = runner.invoke(cli, ["release"], env=env)
    second = runner.invoke(cli, ["release"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(MIGRATIONS_APPLIED_MARKER)  # its log lines go to stderr
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith(NO_MIGRATIONS_MARKER)


def test_the_app_hosting_the_monitor_also_migrates_the_ledger(test_databases: DatabaseFactory) -> None:
    console, ledger = test_databases.empty("console"), test_databases.empty("ledger")
    env = {"RAXX_APP": "console", "DATABASE_URL": console.owner_url, "GATE_DATABASE_URL": ledger.owner_url}
    result = CliRunner().invoke(cli, ["release"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(": ")[2].split()[0] for line in lines] == ["console", "ledger"]
    assert all(line.startswith(MIGRATIONS_APPLIED_MARKER) for line in lines)


def test_a_release_failing_on_the_ledger_says_the_console_was_migrated(test_databases: DatabaseFactory) -> None:
    """The console's database is migrated (and committed) before the ledger's; when the ledger's
    then fail, the release fails, and its output (``heroku releases:output``) says which
    database failed and that the console's schema moved, instead of only the ledger's error."""
    import psycopg

    console, ledger = test_databases.empty("console"), test_databases.empty("ledger")
    with psycopg.connect(ledger.owner_url, autocommit=True) as conn:  # the ledger's first migration fails
        conn.execute("CREATE TABLE approval (x int)")
    env = {"RAXX_APP": "console", "DATABASE_URL": console.owner_url, "GATE_DATABASE_URL": ledger.owner_url}
    result = CliRunner().invoke(cli, ["release"], env=env)
    assert result.exit_code != 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{MIGRATIONS_APPLIED_MARKER}: console base -> "), result.stdout
    assert "ledger migrations failed" in lines[1], result.stdout
    assert "console: migrated" in lines[1], result.stdout


def test_release_after_a_rollback_leaves_a_newer_schema_alone(test_databases: DatabaseFactory) -> None:
    import psycopg

    db = test_databases.empty("raptor")
    env = {"RAXX_APP": "raptor", "DATABASE_URL": db.owner_url}
    assert CliRunner().invoke(cli, ["release"], env=env).exit_code == 0
    with psycopg.connect(db.owner_url, autocommit=True) as conn:  # a newer release migrated, then was rolled back
        conn.execute("UPDATE alembic_version SET version_num = 'r29991231_0099_from_the_future'")
    result = CliRunner().invoke(cli, ["release"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(NO_MIGRATIONS_MARKER)
    assert "newer than this release (a rollback)" in result.stdout


def test_release_without_a_database_refuses_naming_it() -> None:
    result = run_raxx("release", env=clean_env(RAXX_APP="raptor"))
    assert result.returncode == 78
    assert "RAPTOR_DATABASE_URL is required" in result.stderr
    assert "Traceback" not in result.stderr


# -- raxx web refuses to start without what it needs --------------------------------------


def test_web_refuses_to_start_without_raxx_app() -> None:
    result = run_raxx("web", env=clean_env(PORT=str(free_port())))
    assert result.returncode == 78
    assert result.stderr.strip().splitlines()[-1].startswith("raxx: RAXX_APP is required but not set")


def test_web_in_prod_refuses_naming_missing_secrets_never_values() -> None:
    env = clean_env(
        RAXX_APP="raptor",
        PORT=str(free_port()),
        RAPTOR_ENVIRONMENT="prod",
        RAPTOR_BROKER="alpaca",
        RAPTOR_ALPACA_API_SECRET_KEY=ALPACA_SECRET,
        DATABASE_URL="postgresql://raptor:db-password-91ab@127.0.0.1:1/raptor",
    )
    result = run_raxx("web", env=env)
    assert result.returncode == 78
    assert "RAPTOR_ALPACA_API_KEY_ID" in result.stderr
    assert "RAPTOR_ALPACA_API_SECRET_KEY" not in result.stderr  # it is present
    for value in (ALPACA_SECRET, "db-password-91ab"):
        assert value not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


# -- raxx secrets check ------------------------------------------------------------------


def test_secrets_check_lists_required_keys_from_infisical_and_config_vars(
    infisical: tuple[FakeInfisical, ThreadedServer],
) -> None:
    fake, server = infisical
    fake.put(
        "proj-raxx",
        "prod",
        "/raptor",
        {"RAPTOR_ALPACA_API_KEY_ID": "PKTEST", "RAPTOR_ALPACA_API_SECRET_KEY": ALPACA_SECRET},
    )
    env = {**infisical_env(server), "RAPTOR_ENVIRONMENT": "prod", "RAPTOR_BROKER": "alpaca"}
    result = CliRunner().invoke(cli, ["secrets", "check", "--app", "raptor", "--env", "prod"], env=env)

    assert result.exit_code == 78, result.output  # the database URL is missing
    rows = {line.split()[0]: line.split()[1:3] for line in result.output.splitlines() if line.startswith("  ")}
    assert rows == {
        "RAPTOR_ENVIRONMENT": ["present", "environment"],
        "RAPTOR_DATABASE_URL": ["MISSING", "-"],
        "RAPTOR_ALPACA_API_KEY_ID": ["present", "infisical"],
        "RAPTOR_ALPACA_API_SECRET_KEY": ["present", "infisical"],
    }
    assert ALPACA_SECRET not in result.output
    assert "PKTEST" not in result.output
    assert fake.requests[-1][2]["environment"] == "prod"
    assert fake.requests[-1][2]["secretPath"] == "/raptor"


def test_a_command_on_a_console_dyno_reads_the_consoles_secrets_from_infisical(
    infisical: tuple[FakeInfisical, ThreadedServer],
) -> None:
    """``heroku run -a acme-console -- raxx audit checkpoint`` (or ``reconcile``, which needs the
    Raptor tokens): the secrets are in Infisical ``/console``, not in config vars. The audit
    commands read only ``.env`` and the environment, so they said no key was configured (and a
    reconcile could not ask Raptor, closing attempts as unknown)."""
    fake, server = infisical
    fake.identity("console-identity", "ua-secret-prod")
    key = SigningKey.generate()
    fake.put("proj-raxx", "prod", "/console", {"CONSOLE_AUDIT_SIGNING_KEY": key.compact()})
    env = {**infisical_env(server, "console-identity"), "INFISICAL_ENVIRONMENT": "prod", "RAXX_APP": "console"}
    result = CliRunner().invoke(cli, ["audit", "checkpoint", "--public-key"], env=env)
    assert result.exit_code == 0, result.output
    assert key.key_id in result.output
    assert fake.requests[-1][2]["secretPath"] == "/console"


def test_with_infisical_down_a_command_on_a_dyno_says_so_and_uses_config_vars() -> None:
    key = SigningKey.generate()
    dead = {
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": "console-identity",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "ua-secret-prod",
        "INFISICAL_PROJECT_ID": "proj-raxx",
        "INFISICAL_API_URL": f"http://127.0.0.1:{free_port()}",
        "INFISICAL_ENVIRONMENT": "prod",
    }
    env = {**dead, "RAXX_APP": "console", "CONSOLE_AUDIT_SIGNING_KEY": key.compact()}
    result = CliRunner().invoke(cli, ["audit", "checkpoint", "--public-key"], env=env)
    assert result.exit_code == 0, result.output
    assert key.key_id in result.stdout
    assert "reading secrets from config vars only" in result.stderr


def test_secrets_check_passes_when_everything_is_somewhere(infisical: tuple[FakeInfisical, ThreadedServer]) -> None:
    fake, server = infisical
    fake.put("proj-raxx", "staging", "/raptor", {"RAPTOR_DATABASE_URL": "postgresql://u:pw-staging@h/db"})
    env = {**infisical_env(server), "RAPTOR_ENVIRONMENT": "staging"}
    result = CliRunner().invoke(cli, ["secrets", "check", "--app", "raptor", "--env", "staging", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True
    assert {k["key"]: k["source"] for k in report["keys"]} == {
        "RAPTOR_ENVIRONMENT": "environment",
        "RAPTOR_DATABASE_URL": "infisical",
    }
    assert "pw-staging" not in result.output


def test_secrets_check_flags_a_deployment_that_names_another_environment(
    infisical: tuple[FakeInfisical, ThreadedServer],
) -> None:
    fake, server = infisical
    fake.put("proj-raxx", "prod", "/raptor", {"RAPTOR_DATABASE_URL": "postgresql://u:p@h/db"})
    env = {**infisical_env(server), "RAPTOR_ENVIRONMENT": "staging", "RAPTOR_ALPACA_ALLOW_LIVE": "true"}
    result = CliRunner().invoke(cli, ["secrets", "check", "--app", "raptor", "--env", "prod"], env=env)
    assert result.exit_code == 78
    assert "problem: RAPTOR_ENVIRONMENT is 'staging' but these are the secrets for 'prod'" in result.output
    assert "problem: RAPTOR_ALPACA_ALLOW_LIVE is set" in result.output


def test_secrets_check_for_the_console_lists_each_environments_token(tmp_path: Path) -> None:
    env = {
        "CONSOLE_ENVIRONMENTS_FILE": str(REPO / "deploy" / "heroku" / "environments.toml"),
        "DATABASE_URL": "postgresql://u:p@h/console",
        "CONSOLE_SECRET_KEY": "k" * 40,
        "RAPTOR_TOKEN_STAGING": "rpt_staging_token",
    }
    result = CliRunner().invoke(cli, ["secrets", "check", "--app", "console", "--env", "prod"], env=env)
    assert result.exit_code == 78
    assert "RAPTOR_TOKEN_PROD" in result.output
    assert "rpt_staging_token" not in result.output
    assert re.search(r"CONSOLE_DATABASE_URL +present", result.output)
    assert re.search(r"CONSOLE_AUDIT_SIGNING_KEY +MISSING", result.output)  # production signs checkpoints


def test_secrets_check_with_infisical_unreachable_says_so() -> None:
    env = {
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": "x",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "y",
        "INFISICAL_PROJECT_ID": "p",
        "INFISICAL_API_URL": "http://127.0.0.1:9",  # discard port: nothing listens
        "INFISICAL_TIMEOUT_S": "0.5",
    }
    result = run_raxx("secrets", "check", "--app", "raptor", "--env", "prod", env=clean_env(**env))
    assert result.returncode == 69
    assert "Infisical at http://127.0.0.1:9 is unavailable" in result.stderr
    assert "Traceback" not in result.stderr
