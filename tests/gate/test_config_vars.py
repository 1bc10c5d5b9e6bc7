"""Deploy-time commands read the ledger's URL from the console app's config vars when they
run, never from a copy: a Heroku credential rotation between two commands, or in the middle
of one, does not break the gate. Heroku is the local fake Platform API (its real JSON
shapes); the database is real, and a rotation is played the way the server here can tell
(it trusts loopback connections, so a changed password would prove nothing): the old
role may no longer log in and its connections are ended, a new one takes its place."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql
from sqlalchemy import text

from raxx.cli import _register_groups, cli
from raxx.common.db import libpq_url
from raxx.common.errors import ConfigError
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.config import GateSettings
from raxx.gate.context import open_context
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.fake_heroku import FakeHeroku
from tests.fixtures.gate import POLICY_FILE, SMOKE_TOKEN, add_release, gate_context
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import ThreadedServer, serve

pytestmark = LOOPBACK_ONLY

CONSOLE_APP = "acme-console"
REF = f"{CONSOLE_APP}:GATE_DATABASE_URL"
TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s"


@dataclass
class Credentials:
    """The ledger's credential as Heroku hands it out, and a rotation of it."""

    admin_url: str
    ledger: ProvisionedDatabase
    heroku: FakeHeroku
    roles: list[str]

    @property
    def url(self) -> str:
        value = self.heroku.config_vars[CONSOLE_APP]["GATE_DATABASE_URL"]
        assert value is not None
        return value

    def rotate(self) -> str:
        """A new role with the runtime role's rights becomes GATE_DATABASE_URL; the old one may
        no longer log in and its sessions are ended (Heroku ends them too). The new URL."""
        where = psycopg.conninfo.conninfo_to_dict(libpq_url(self.ledger.runtime_url))
        runtime = str(where["user"])
        role = f"{runtime}_r{secrets.token_hex(3)}"
        password = f"p{secrets.token_hex(8)}"  # a server that checks passwords (the embedded one) gets it right
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as conn:
            create = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}")
            conn.execute(create.format(sql.Identifier(role), sql.Literal(password), sql.Identifier(runtime)))
            if self.roles:
                conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(self.roles[-1])))
                conn.execute(TERMINATE, (self.roles[-1],))
        self.roles.append(role)
        url = f"postgres://{role}:{password}@{where['host']}:{where['port']}/{self.ledger.database}"
        self.heroku.config_vars[CONSOLE_APP]["GATE_DATABASE_URL"] = url  # Heroku's postgres:// form
        return url

    def drop(self) -> None:
        with psycopg.connect(libpq_url(self.admin_url), autocommit=True) as conn:
            for role in self.roles:
                conn.execute(TERMINATE, (role,))
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def heroku() -> Iterator[tuple[FakeHeroku, ThreadedServer]]:
    fake = FakeHeroku()
    fake.add_app(CONSOLE_APP)
    fake.config_vars[CONSOLE_APP].update({"DATABASE_URL": "postgres://console-db", "PAPERTRAIL_API_TOKEN": None})
    with serve(fake.app()) as server:
        fake.base_url = server.url
        yield fake, server


@pytest.fixture
def credentials(
    test_databases: DatabaseFactory, ledger_db: ProvisionedDatabase, heroku: tuple[FakeHeroku, ThreadedServer]
) -> Iterator[Credentials]:
    made = Credentials(test_databases.admin_url, ledger_db, heroku[0], [])
    made.rotate()
    try:
        yield made
    finally:
        made.drop()


def config_var_reads(fake: FakeHeroku) -> int:
    return sum(1 for method, path, _ in fake.calls if (method, path) == ("GET", f"/apps/{CONSOLE_APP}/config-vars"))


def gate(server: ThreadedServer, fake: FakeHeroku, *args: str, **env: str) -> Result:
    """``raxx gate ...`` the way the workflows run it: no ledger URL, only where it lives."""
    _register_groups()
    base = {
        "GATE_DATABASE_URL_FROM": REF,
        "GATE_HEROKU_API_TOKEN": fake.token,
        "GATE_HEROKU_API_URL": server.url,
        "GATE_POLICY_FILE": str(POLICY_FILE),
        "GATE_CONSOLE_SMOKE_TOKEN": SMOKE_TOKEN,
        "GITHUB_ACTIONS": "false",
        "GITHUB_EVENT_NAME": "",
    }
    base.update(env)
    return CliRunner().invoke(cli, ["gate", *args], env=base)


CHECK = ("check", "--app", "raptor", "--env", "prod", "--release", "r1", "--by", "carol", "--json")


async def seed(db: ProvisionedDatabase) -> None:
    async with gate_context(db) as ctx:
        start = datetime.now(UTC) - timedelta(hours=2)
        await add_release(ctx, "raptor", "staging", "r1", at=start, by="alice")


def test_a_rotation_between_two_commands_is_read_by_the_second(
    credentials: Credentials, heroku: tuple[FakeHeroku, ThreadedServer], ledger_db: ProvisionedDatabase
) -> None:
    fake, server = heroku
    asyncio.run(seed(ledger_db))
    first = gate(server, fake, *CHECK)
    assert first.exit_code == 3, first.output  # blocked (soak too short): it read the ledger
    assert '"name": "soak"' in first.output
    old = credentials.url
    credentials.rotate()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_url(old)).close()
    # A copy of the old URL (what a GitHub secret kept) no longer works...
    stale = gate(server, fake, *CHECK, GATE_DATABASE_URL_FROM="", GATE_DATABASE_URL=old)
    assert stale.exit_code == 4  # the gate cannot decide: its ledger refused the stale credentials
    assert "not permitted to log in" in stale.output
    # ...while reading it at run time does.
    second = gate(server, fake, *CHECK)
    assert second.exit_code == 3, second.output
    assert config_var_reads(fake) == 2


async def test_a_rotation_in_the_middle_of_a_command_costs_one_failed_connection(
    credentials: Credentials, heroku: tuple[FakeHeroku, ThreadedServer]
) -> None:
    fake, server = heroku
    settings = GateSettings(
        database_url_from=REF, heroku_api_token=fake.token, heroku_api_url=server.url, policy_file=POLICY_FILE
    )  # type: ignore[call-arg]
    async with open_context(settings) as ctx:
        async with ctx.engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_user"))).scalar_one() == credentials.roles[-1]
        credentials.rotate()  # ends the pooled connection, the old role may no longer log in
        async with ctx.engine.connect() as conn:
            assert (await conn.execute(text("SELECT current_user"))).scalar_one() == credentials.roles[-1]
    assert config_var_reads(fake) == 2


def test_under_github_actions_what_was_read_is_masked_in_the_log(
    credentials: Credentials, heroku: tuple[FakeHeroku, ThreadedServer]
) -> None:
    fake, server = heroku
    result = gate(server, fake, *CHECK, GITHUB_ACTIONS="true")
    password = psycopg.conninfo.conninfo_to_dict(libpq_url(credentials.url))["password"]
    assert f"::add-mask::{credentials.url}\n" in result.stderr
    assert f"::add-mask::{password}\n" in result.stderr
    assert credentials.url not in result.stdout


def test_a_missing_var_or_a_token_without_access_is_named(heroku: tuple[FakeHeroku, ThreadedServer]) -> None:
    fake, server = heroku
    missing = gate(server, fake, *CHECK, GATE_DATABASE_URL_FROM=f"{CONSOLE_APP}:GATE_READONLY_DATABASE_URL")
    assert missing.exit_code == 78
    assert "config var GATE_READONLY_DATABASE_URL of Heroku app acme-console is not set" in missing.output
    refused = gate(server, fake, *CHECK, GATE_HEROKU_API_TOKEN="not-the-token")
    assert refused.exit_code == 78
    assert "read-protected" in refused.output
    ghost = gate(server, fake, *CHECK, GATE_DATABASE_URL_FROM="acme-ghost:GATE_DATABASE_URL")
    assert ghost.exit_code == 78
    assert "not found" in ghost.output


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "GATE_DATABASE_URL \\(or GATE_DATABASE_URL_FROM\\) is required"),
        ({"database_url": "postgresql://x@h/x", "database_url_from": REF}, "not both"),
        ({"database_url_from": "GATE_DATABASE_URL"}, "must be APP:VAR"),
        ({"database_url_from": "Acme_Console:GATE_DATABASE_URL"}, "must be APP:VAR"),
        ({"database_url": "postgresql://x@h/x", "audit_database_url_from": "acme"}, "GATE_AUDIT_DATABASE_URL_FROM"),
    ],
)
def test_the_settings_name_where_each_url_comes_from(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GateSettings(**values)  # type: ignore[arg-type]


def test_a_url_setting_needs_the_token_that_reads_it() -> None:
    _register_groups()
    result = CliRunner().invoke(
        cli, ["gate", *CHECK], env={"GATE_DATABASE_URL_FROM": REF, "GATE_POLICY_FILE": str(POLICY_FILE)}
    )
    assert result.exit_code == 78
    assert "GATE_HEROKU_API_TOKEN (or HEROKU_API_KEY) is required: a *_FROM setting reads the Platform API" in (
        result.output
    )
