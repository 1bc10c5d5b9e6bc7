"""What the ``raxx gate`` commands refuse before they act: names that are one person under
another spelling, apps and environments the policy does not name, values wider than their
ledger column, commit ids that are not, blank text, a topology file that is not one."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import psycopg
import pytest

from raxx.cli import _register_groups, cli
from raxx.common.actors import actor_key, clean_actor, same_actor
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.gate import LocalTopology, add_release, gate_context
from tests.gate.test_commands import _raxx, _seed

#: "tester" in fullwidth letters (U+FF54 ...): NFKC folds them to ASCII.
FULLWIDTH_TESTER = "".join(chr(ord(c) + 0xFEE0) for c in "tester")
APPROVE = ("gate", "approve", "--app", "raptor", "--env", "prod", "--release", "r1")
CHECK = ("gate", "check", "--app", "raptor", "--env", "prod", "--release", "r1", "--trigger", "dispatch")
DEPLOY = ("gate", "deploy", "--app", "raptor", "--env", "staging", "--trigger", "push")


def _rows(db: ProvisionedDatabase, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db.runtime_url) as conn:
        return conn.execute(sql).fetchall()


# --- 1. one person, however the name is spelt ---------------------------------------------


def test_names_are_compared_trimmed_case_folded_and_nfkc() -> None:
    assert same_actor("tester", "TESTER")
    assert same_actor("tester", " tester ")
    assert same_actor("tester", FULLWIDTH_TESTER)  # fullwidth letters fold too
    assert same_actor("Straße", "STRASSE")
    assert not same_actor("bob", "bobby")
    assert not same_actor("bob", None)
    assert clean_actor("  Bob   Smith ") == "Bob Smith"
    assert actor_key("   ") == ""
    # Invisible formatting characters are refused where names enter; a name recorded with one
    # before is still its person's.
    assert same_actor("tester", "test\u200ber")
    assert same_actor("tester", "tes\u00adter\u202e")


#: Names that look like "tester" to every reader: a zero width space, a soft hyphen, a
#: right-to-left override, a word joiner.
INVISIBLE = ["tester\u200b", "tes\u00adter", "test\u202eer", "\u2060tester"]


@pytest.mark.parametrize("spelling", INVISIBLE)
def test_a_name_with_an_invisible_character_is_refused_so_it_cannot_pass_for_another(
    ledger_db: ProvisionedDatabase, spelling: str
) -> None:
    """The deployer approved their own release as ``tester`` + U+200B: it counted as a second person."""
    _seed(ledger_db, soak_hours=25, approve=False, deployer="tester")
    result = _raxx(ledger_db, *APPROVE, "--by", spelling)
    assert result.exit_code == 2, result.output
    assert "may not contain" in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM approval") == [(0,)]
    variable = _raxx(ledger_db, *APPROVE, GATE_ACTOR=spelling)
    assert variable.exit_code == 78, variable.output
    assert "GATE_ACTOR may not contain" in variable.output


@pytest.mark.parametrize("spelling", ["TESTER", " tester ", "Tester", FULLWIDTH_TESTER])
def test_the_deployer_cannot_approve_under_another_spelling(ledger_db: ProvisionedDatabase, spelling: str) -> None:
    _seed(ledger_db, soak_hours=25, approve=False, deployer="tester")
    result = _raxx(ledger_db, *APPROVE, "--by", spelling)
    assert result.exit_code == 1, result.output
    assert "cannot approve" in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM approval") == [(0,)]


@pytest.mark.parametrize("blank", ["", "   ", "\u3000"])
def test_a_blank_name_is_refused(ledger_db: ProvisionedDatabase, blank: str) -> None:
    _seed(ledger_db, soak_hours=25, approve=False)
    result = _raxx(ledger_db, *APPROVE, "--by", blank)
    assert result.exit_code == 2, result.output
    assert "'--by'" in result.output
    assert "may not be blank" in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM approval") == [(0,)]


def test_a_blank_actor_variable_is_a_setting_to_fix(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=25, approve=False)
    result = _raxx(ledger_db, *APPROVE, GATE_ACTOR="   ")
    assert result.exit_code == 78, result.output
    assert "GATE_ACTOR may not be blank" in result.output


def test_a_name_is_recorded_trimmed_and_two_spellings_count_once(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=25, approve=True)  # bob approves
    again = _raxx(ledger_db, *APPROVE, "--by", "  Bob ")
    assert again.exit_code == 0, again.output
    assert _rows(ledger_db, "SELECT approved_by FROM approval ORDER BY approved_at") == [("bob",), ("Bob",)]
    body = json.loads(_raxx(ledger_db, *CHECK, "--by", "carol", "--json").output)
    approvals = next(c for c in body["conditions"] if c["name"] == "approvals")
    assert approvals["status"] == "pass"
    assert len(approvals["evidence"]["approved_by"]) == 1
    assert approvals["reason"].startswith("1/1")


def test_an_approval_by_the_promoter_under_another_spelling_does_not_count(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=25, approve=True)  # bob approves
    result = _raxx(ledger_db, *CHECK, "--by", "BOB", "--json")
    assert result.exit_code == 3, result.output
    approvals = next(c for c in json.loads(result.output)["conditions"] if c["name"] == "approvals")
    assert approvals["status"] == "fail"
    assert "triggers this deploy and cannot approve it" in approvals["reason"]


# --- 2 and 8. apps and environments the policy names, one exit code -------------------------


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (("--env", "prod", "--app", "raptr"), "no app 'raptr' in the release policy (policy.toml; known: "),
        (("--env", "staging", "--app", "console"), "app 'console' has no environment 'staging'"),
        (("--env", "prdo"), "no environment 'prdo' in the release policy (policy.toml; known: "),
    ],
)
def test_a_freeze_of_what_the_policy_does_not_name_is_refused(
    ledger_db: ProvisionedDatabase, where: tuple[str, ...], says: str
) -> None:
    result = _raxx(ledger_db, "gate", "freeze", *where, "--for", "1h", "--reason", "typo", "--by", "alice")
    assert result.exit_code == 78, result.output
    assert says in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM public.freeze") == [(0,)]


def test_an_unknown_app_exits_the_same_in_every_gate_command(ledger_db: ProvisionedDatabase) -> None:
    app = ("--app", "raptr")
    commands = {
        "check": ("gate", "check", *app, "--env", "prod", "--release", "r1"),
        "approve": ("gate", "approve", *app, "--env", "prod", "--release", "r1", "--by", "bob"),
        "rollback": ("gate", "rollback", *app, "--env", "prod", "--by", "bob"),
        "freeze": ("gate", "freeze", *app, "--env", "prod", "--for", "1h", "--reason", "x", "--by", "bob"),
        "incident open": (
            "gate",
            "incident",
            "open",
            *app,
            "--component",
            "api",
            "--severity",
            "critical",
            "--title",
            "down",
            "--by",
            "bob",
        ),
    }
    for name, args in commands.items():
        result = _raxx(ledger_db, *args)
        assert (name, result.exit_code) == (name, 78), result.output
        assert "no app 'raptr' in the release policy (policy.toml; known: " in result.output
    assert _rows(ledger_db, "SELECT (SELECT count(*) FROM public.freeze), (SELECT count(*) FROM incident)") == [(0, 0)]


# --- 3. a deploy that stops after its record is written --------------------------------------


@pytest.mark.parametrize(("content", "says"), [("{", "is not valid JSON"), ("{}", "is not a topology")])
def test_a_topology_file_that_is_not_one_fails_the_deploy_record(
    ledger_db: ProvisionedDatabase, tmp_path: Path, content: str, says: str
) -> None:
    async def earlier() -> None:
        async with gate_context(ledger_db) as ctx:
            await add_release(ctx, "raptor", "staging", "r9", at=ctx.clock.now())

    asyncio.run(earlier())
    topology = tmp_path / "topology.json"
    topology.write_text(content)
    args = ("--release", "r10", "--commit", "1010101", "--artifact", "a10", "--by", "alice")
    result = _raxx(ledger_db, *DEPLOY, *args, GATE_TOPOLOGY_FILE=str(topology))
    assert result.exit_code == 78, result.output
    assert says in result.output
    [(status, detail)] = _rows(ledger_db, "SELECT status, detail FROM release WHERE release_id = 'r10'")
    assert status == "failed"
    assert says in detail


# --- 4 to 7. values the ledger cannot hold, or that say nothing -----------------------------

LONG_DEPLOY = [
    ("--release", 20_000, "200"),
    ("--artifact", 1_000, "200"),
    ("--tag", 1_000, "200"),
    ("--by", 1_000, "200"),
]


@pytest.mark.parametrize(("option", "length", "limit"), LONG_DEPLOY)
@pytest.mark.parametrize("command", ["deploy", "check"])
def test_check_and_deploy_refuse_overlong_values_alike(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, command: str, option: str, length: int, limit: str
) -> None:
    values = {"--release": "r1", "--commit": "1111111", "--artifact": "a1", "--by": "alice"}
    values[option] = "x" * length
    args = [a for pair in values.items() for a in pair]
    base = DEPLOY if command == "deploy" else ("gate", "check", *DEPLOY[2:])
    result = _raxx(ledger_db, *base, *args, GATE_TOPOLOGY_FILE=str(fake_topology.topology_file))
    assert result.exit_code == 2, result.output
    assert f"'{option}'" in result.output
    assert f"at most {limit} characters" in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM release") == [(0,)]


@pytest.mark.parametrize("commit", ["not a sha!", "x" * 300, "abc", "ABCDEF0", ""])
@pytest.mark.parametrize("command", ["deploy", "check"])
def test_a_commit_is_7_to_40_hex_characters(ledger_db: ProvisionedDatabase, command: str, commit: str) -> None:
    base = DEPLOY if command == "deploy" else ("gate", "check", *DEPLOY[2:])
    result = _raxx(ledger_db, *base, "--release", "r1", "--commit", commit, "--artifact", "a1", "--by", "alice")
    assert result.exit_code == 2, result.output
    assert "'--commit'" in result.output
    assert "is not a commit id (hex, 7 to 40 characters)" in result.output


def test_source_digest_takes_the_same_commit_rule() -> None:
    _register_groups()
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["heroku", "source-digest", "--commit", "not a sha!"])
    assert result.exit_code == 2, result.output
    assert "is not a commit id (hex, 7 to 40 characters)" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("gate", "deploy", *DEPLOY[2:], "--release", "", "--commit", "1111111", "--artifact", "a"),
        ("gate", "rollback", "--app", "raptor", "--env", "staging", "--to", ""),
        ("gate", "incident", "open", "--app", "raptor", "--component", "", "--severity", "critical", "--title", "x"),
        ("gate", "incident", "open", "--app", "raptor", "--component", "api", "--severity", "critical", "--title", " "),
        ("gate", "freeze", "--env", "prod", "--for", "1h", "--reason", "  "),
    ],
    ids=["release", "rollback-to", "component", "title", "freeze-reason"],
)
def test_blank_values_are_refused(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, args: tuple[str, ...]
) -> None:
    _seed(ledger_db, soak_hours=1, approve=False)
    result = _raxx(ledger_db, *args, "--by", "alice", GATE_TOPOLOGY_FILE=str(fake_topology.topology_file))
    assert result.exit_code == 2, result.output
    assert "may not be blank" in result.output
    counts = (
        "SELECT (SELECT count(*) FROM release), (SELECT count(*) FROM incident), (SELECT count(*) FROM public.freeze)"
    )
    assert _rows(ledger_db, counts) == [(1, 0, 0)]
    assert fake_topology.services["raptor-staging"].release == "r0"


@pytest.mark.parametrize(
    "args",
    [
        ("gate", "freeze", "--env", "prod", "--for", "1h", "--reason", "x"),
        ("gate", "attest", "heroku-shutdown", "item"),
        ("gate", "incident", "open", "--app", "raptor", "--component", "api", "--severity", "minor", "--title", "x"),
        ("gate", "rollback", "--app", "raptor", "--env", "staging"),
        ("gate", "approve", "--app", "raptor", "--env", "prod", "--release", "r1"),
    ],
)
def test_an_overlong_name_is_refused(ledger_db: ProvisionedDatabase, args: tuple[str, ...]) -> None:
    result = _raxx(ledger_db, *args, "--by", "b" * 1_000)
    assert result.exit_code == 2, result.output
    assert "'--by'" in result.output
    assert "at most 200 characters" in result.output


def test_an_overlong_component_is_refused(ledger_db: ProvisionedDatabase) -> None:
    args = ("--app", "raptor", "--component", "c" * 300, "--severity", "minor", "--title", "x", "--by", "alice")
    result = _raxx(ledger_db, "gate", "incident", "open", *args)
    assert result.exit_code == 2, result.output
    assert "at most 80 characters" in result.output
    assert _rows(ledger_db, "SELECT count(*) FROM incident") == [(0,)]


def test_a_freeze_longer_than_the_longest_duration_is_refused(ledger_db: ProvisionedDatabase) -> None:
    args = ("--env", "prod", "--for", "99999999d", "--reason", "x", "--by", "alice")
    result = _raxx(ledger_db, "gate", "freeze", *args)
    assert result.exit_code == 2, result.output
    assert "longer than the longest duration taken, 3650d" in result.output


def test_a_freeze_of_no_time_says_so(ledger_db: ProvisionedDatabase) -> None:
    result = _raxx(ledger_db, "gate", "freeze", "--env", "prod", "--for", "0s", "--reason", "x", "--by", "alice")
    assert result.exit_code == 1, result.output
    assert "--for 0s freezes nothing" in result.output  # it said "a freeze needs --until or --for"
    assert _rows(ledger_db, 'SELECT count(*) FROM "freeze"') == [(0,)]


def test_a_closed_stdout_is_refused_before_anything_runs(
    ledger_db: ProvisionedDatabase, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_groups()
    monkeypatch.setenv("GATE_DATABASE_URL", ledger_db.runtime_url)
    monkeypatch.setattr(sys, "stdout", None)
    with pytest.raises(SystemExit) as exited:
        cli.main(["gate", "board", "--json"], prog_name="raxx")
    assert exited.value.code == 74
    assert "standard output is closed" in capsys.readouterr().err
    assert _rows(ledger_db, "SELECT count(*) FROM release_board") == [(0,)]
