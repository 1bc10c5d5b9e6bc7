"""``raxx console ...`` on the audit trail: every command that changes state leaves an attempt
and an outcome with the pages' action names, the operating-system user as the actor and the
environment it concerns; a refusal is recorded as one; nothing happens when the attempt cannot
be written; and every command of the group declares whether it is audited."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import click
import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from raxx.common.actions import CHANGE_ROLE, CREATE_TOKEN, CREATE_USER, REVOKE_TOKEN, SET_PASSWORD, Action
from raxx.common.db import libpq_url
from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.cli import declaration_of
from raxx.console.command_runner import run_audited, run_in_db
from raxx.console.commands import console as console_cli
from tests.fixtures.database import DatabaseFactory

LOGIN = "casey"
PASSWORD = "a long passphrase for N 2026"
NEW_PASSWORD = "another long passphrase 2027"


@dataclass(frozen=True)
class Sample:
    """One use of an audited command, after ``setup`` (other commands), and what it records."""

    args: tuple[str, ...]
    action: Action
    environment: str | None
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    setup: tuple[tuple[str, ...], ...] = ()


ADD_NORA = ("user", "add", "nora", "--role", "operator", "--env", "staging", "--password-stdin")
PROD_TOKEN = ("token", "create", "runbook", "--user", "nora", "--env", "prod", "--confirm", "prod")
#: Every audited command of ``raxx console``, by its path (test_every_audited_command_has_a_sample).
SAMPLES: dict[str, Sample] = {
    "user add": Sample(ADD_NORA, CREATE_USER, "staging", "nora", {"roles": {"staging": "operator"}}),
    "user grant": Sample(
        ("user", "grant", "nora", "--env", "prod", "--role", "viewer"),
        CHANGE_ROLE,
        "prod",
        "nora",
        {"role": "viewer"},
        setup=(ADD_NORA,),
    ),
    "user revoke": Sample(
        ("user", "revoke", "nora", "--env", "staging"), CHANGE_ROLE, "staging", "nora", {"role": "none"}, (ADD_NORA,)
    ),
    "user passwd": Sample(("user", "passwd", "nora", "--password-stdin"), SET_PASSWORD, None, "nora", {}, (ADD_NORA,)),
    "token create": Sample(
        PROD_TOKEN, CREATE_TOKEN, "prod", "runbook", {"user": "nora", "environments": ["prod"]}, (ADD_NORA,)
    ),
    "token revoke": Sample(
        ("token", "revoke", "{token_id}"), REVOKE_TOKEN, "prod", "{token_id}", {}, (ADD_NORA, PROD_TOKEN)
    ),
}


def _cli(db: ProvisionedDatabase, *args: str, stdin: str | None = None) -> Result:
    """``raxx console ARGS`` on the runtime role (what a deployment's one-off dyno holds), as LOGIN."""
    return CliRunner().invoke(
        console_cli, [*args, "--database-url", db.runtime_url], input=stdin, env={"LOGNAME": LOGIN}
    )


def _events(db: ProvisionedDatabase) -> list[dict[str, Any]]:
    with psycopg.connect(libpq_url(db.owner_url)) as conn:
        rows = conn.execute(
            "SELECT seq, action, phase, outcome, actor_name, user_agent, environment, target, params, error,"
            " attempt_id, event_id FROM audit_event ORDER BY seq"
        ).fetchall()
    keys = ("seq", "action", "phase", "outcome", "actor", "user_agent", "environment", "target", "params", "error")
    return [{**dict(zip(keys, row, strict=False)), "attempt_id": row[10], "event_id": row[11]} for row in rows]


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(_leaves(command, (*path, name)))
        else:
            found[" ".join((*path, name))] = command
    return found


def test_every_console_command_declares_whether_it_is_audited() -> None:
    undeclared = [path for path, command in _leaves(console_cli).items() if declaration_of(command) is None]
    assert undeclared == [], "declare @audited_command(ACTION) or @unaudited(reason) on these"


def test_every_audited_command_has_a_sample() -> None:
    audited = {p: c for p, c in _leaves(console_cli).items() if isinstance(declaration_of(c), Action)}
    assert set(audited) == set(SAMPLES)
    assert {p: declaration_of(c) for p, c in audited.items()} == {p: s.action for p, s in SAMPLES.items()}


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_an_audited_command_records_attempt_and_outcome(path: str, console_db: ProvisionedDatabase) -> None:
    sample = SAMPLES[path]
    token_id, plaintexts = "", []
    for step in sample.setup:
        done = _cli(console_db, *step, stdin=PASSWORD + "\n")
        assert done.exit_code == 0, done.output
        if step[:2] == ("token", "create"):
            plaintexts.append(done.stdout.strip().splitlines()[-1])
            token_id = plaintexts[-1].split("_")[1]
    before = len(_events(console_db))
    result = _cli(console_db, *(a.format(token_id=token_id) for a in sample.args), stdin=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    if path == "token create":
        plaintexts.append(result.stdout.strip().splitlines()[-1])

    events = _events(console_db)
    attempt, outcome = events[before:]
    assert (attempt["phase"], outcome["phase"], outcome["outcome"]) == ("attempt", "outcome", "ok")
    assert outcome["attempt_id"] == attempt["event_id"]
    for event in (attempt, outcome):
        assert event["action"] == sample.action.name
        assert (event["actor"], event["user_agent"]) == (f"cli:{LOGIN}", "raxx-cli")
        assert event["environment"] == sample.environment
        assert event["target"] == sample.target.format(token_id=token_id)
    assert sample.params.items() <= attempt["params"].items()
    written = json.dumps([{k: str(v) for k, v in e.items()} for e in events])
    for secret in (PASSWORD, NEW_PASSWORD, *plaintexts, *(p.split("_", 2)[2] for p in plaintexts)):
        assert secret not in written


def test_role_changes_record_what_the_users_page_records(console_db: ProvisionedDatabase) -> None:
    """The page's ``user.role.change``: ``role`` in both, ``none`` for a removal (tests/console/audit)."""
    assert _cli(console_db, *ADD_NORA, stdin=PASSWORD + "\n").exit_code == 0
    assert _cli(console_db, "user", "grant", "nora", "--env", "prod", "--role", "admin").exit_code == 0
    assert _cli(console_db, "user", "revoke", "nora", "--env", "prod").exit_code == 0
    *_, granted, _, revoked = _events(console_db)
    assert (granted["params"], revoked["params"]) == ({"role": "admin"}, {"role": "none"})
    assert granted["environment"] == revoked["environment"] == "prod"


def test_an_unconfirmed_protected_token_is_recorded_as_denied(console_db: ProvisionedDatabase) -> None:
    assert _cli(console_db, *ADD_NORA, stdin=PASSWORD + "\n").exit_code == 0
    refused = _cli(console_db, "token", "create", "p", "--user", "nora", "--env", "prod")
    assert refused.exit_code == 2
    assert "prod is protected: add --confirm prod" in refused.output
    *_, attempt, outcome = _events(console_db)
    assert (attempt["action"], attempt["environment"], outcome["outcome"]) == ("token.create", "prod", "denied")
    assert "prod is protected" in outcome["error"]
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        assert conn.execute("SELECT count(*) FROM console_api_token").fetchone() == (0,)


def test_a_command_the_service_refuses_records_a_failed_outcome(console_db: ProvisionedDatabase) -> None:
    refused = _cli(console_db, "user", "grant", "nobody", "--env", "staging", "--role", "viewer")
    assert refused.exit_code != 0
    attempt, outcome = _events(console_db)
    assert (attempt["action"], attempt["target"], outcome["outcome"]) == ("user.role.change", "nobody", "failed")
    assert "no user named 'nobody'" in outcome["error"]


def test_a_usage_error_acts_on_nothing_and_records_nothing(console_db: ProvisionedDatabase) -> None:
    lone_role = _cli(console_db, "user", "add", "omar", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    assert lone_role.exit_code == 2
    typo = _cli(console_db, "user", "grant", "omar", "--env", "prdo", "--role", "viewer")
    assert typo.exit_code == 2
    assert _events(console_db) == []


def test_nothing_changes_when_the_attempt_cannot_be_recorded(
    console_db: ProvisionedDatabase, test_databases: DatabaseFactory
) -> None:
    assert _cli(console_db, *ADD_NORA, stdin=PASSWORD + "\n").exit_code == 0
    runtime_role = psycopg.conninfo.conninfo_to_dict(libpq_url(console_db.runtime_url))["user"]
    with psycopg.connect(test_databases.superuser_url(console_db.database), autocommit=True) as conn:
        conn.execute(f'REVOKE INSERT ON audit_event FROM "{runtime_role}"')
    refused = _cli(console_db, "user", "grant", "nora", "--env", "prod", "--role", "admin")
    assert refused.exit_code != 0
    assert "could not record 'user.role.change'" in str(refused.exception)  # raxx.exits: one line, 69
    assert "not performed" in str(refused.exception)
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        roles = conn.execute("SELECT environment, role FROM console_user_role").fetchall()
    assert roles == [("staging", "operator")]


def test_unaudited_reads_cannot_write(console_db: ProvisionedDatabase) -> None:
    with pytest.raises(Exception, match="read-only transaction"):
        run_in_db(console_db.runtime_url, lambda db: db.execute(text("DELETE FROM console_user")))


def test_a_command_records_only_the_action_it_declares(console_db: ProvisionedDatabase) -> None:
    @click.command()
    def sneaky() -> None:
        from raxx.console.actions import ActionCall

        run_audited(console_db.runtime_url, ActionCall(CHANGE_ROLE, "prod", target="x"), lambda db, _: _nothing())

    result = CliRunner().invoke(sneaky, [])
    assert isinstance(result.exception, RuntimeError)
    assert "without @audited_command(user.role.change)" in str(result.exception)
    assert _events(console_db) == []


async def _nothing() -> None:
    return None


def test_a_user_name_is_one_person_however_it_is_spelt(console_db: ProvisionedDatabase) -> None:
    # bob, " BOB " and bob in fullwidth letters would be three accounts one person could pass for
    # another with, in the audit trail and the users page.
    assert _cli(console_db, "user", "add", " bob ", "--password-stdin", stdin=PASSWORD).exit_code == 0
    for spelling in ("BOB", "\uff42\uff4f\uff42"):
        again = _cli(console_db, "user", "add", spelling, "--password-stdin", stdin=PASSWORD)
        assert again.exit_code != 0, again.output
        assert "already exists (as 'bob')" in str(again.exception)
    for bad in ("", "   ", "x" * 65, "bob\u200b", "b\u00adob", "bo\u202eb"):  # invisible: would pass for bob
        refused = _cli(console_db, "user", "add", bad, "--password-stdin", stdin=PASSWORD)
        assert refused.exit_code == 2, refused.output
    with psycopg.connect(libpq_url(console_db.owner_url)) as conn:
        assert conn.execute("SELECT name FROM console_user WHERE name ILIKE '%bob%'").fetchall() == [("bob",)]
