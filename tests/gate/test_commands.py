"""The ``raxx gate`` commands as CI runs them: tables, --json, exit codes, GitHub annotations."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from raxx.cli import _register_groups, cli
from raxx.common.provision import ProvisionedDatabase
from tests.fixtures.gate import POLICY_FILE, SMOKE_TOKEN, LocalTopology, add_release, add_samples, gate_context

H = timedelta(hours=1)


def _raxx(db: ProvisionedDatabase, *args: str, **env: str) -> Result:
    _register_groups()
    base = {
        "GATE_DATABASE_URL": db.runtime_url,
        "GATE_POLICY_FILE": str(POLICY_FILE),
        "GITHUB_ACTIONS": "false",
        "GATE_CONSOLE_SMOKE_TOKEN": SMOKE_TOKEN,
        "GITHUB_EVENT_NAME": "",
    }
    base.update(env)
    return CliRunner().invoke(cli, list(args), env=base, catch_exceptions=False)


def _seed(
    db: ProvisionedDatabase,
    *,
    soak_hours: float,
    silent_last: timedelta = timedelta(0),
    approve: bool,
    deployer: str = "alice",
) -> None:
    async def main() -> None:
        now = datetime.now(UTC)
        async with gate_context(db) as ctx:
            start = now - soak_hours * H
            await add_release(ctx, "raptor", "staging", "r1", at=start, by=deployer, tag="v1.0.0")
            await add_samples(ctx, "raptor-staging", start, now - silent_last, release="r1")
            if approve:
                from raxx.gate.records import approve as approve_release

                await approve_release(
                    ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None
                )

    asyncio.run(main())


CHECK = ("gate", "check", "--app", "raptor", "--env", "prod", "--release", "r1", "--by", "carol")


def test_check_passes_with_exit_0(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=25, approve=True)
    result = _raxx(ledger_db, *CHECK, "--trigger", "dispatch")
    assert result.exit_code == 0, result.output
    assert "verdict: pass (exit 0)" in result.output
    for name in (
        "trigger",
        "artifact",
        "soak",
        "sample_coverage",
        "success_rate",
        "approvals",
        "incidents",
        "freeze",
        "lock",
    ):
        assert name in result.output


def test_check_blocked_exits_3_and_json_lists_every_condition(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=6, approve=False)
    result = _raxx(ledger_db, *CHECK, "--trigger", "dispatch", "--json")
    assert result.exit_code == 3
    body = json.loads(result.output)
    assert body["verdict"] == "blocked"
    conditions = {c["name"]: c for c in body["conditions"]}
    assert conditions["soak"]["status"] == "fail"
    assert conditions["soak"]["evidence"]["remaining_seconds"] > 17 * 3600
    assert conditions["approvals"]["status"] == "fail"
    assert body["candidate"]["artifact_digest"] == "sha256:r1"


def test_check_that_cannot_prove_health_exits_4(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=26, silent_last=H, approve=True)
    result = _raxx(ledger_db, *CHECK, "--trigger", "dispatch")
    assert result.exit_code == 4, result.output
    assert "cannot decide" in result.output


def test_in_github_actions_it_annotates_and_writes_a_step_summary(
    ledger_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    _seed(ledger_db, soak_hours=25, approve=False)
    summary = tmp_path / "summary.md"
    result = _raxx(
        ledger_db,
        "gate",
        "check",
        "--app",
        "raptor",
        "--env",
        "prod",
        "--release",
        "r1",
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_EVENT_NAME="push",
        GITHUB_REF_TYPE="tag",
        GITHUB_REF_NAME="v1.0.0",
        GITHUB_ACTOR="carol",
    )
    assert result.exit_code == 3
    errors = [line for line in result.output.splitlines() if line.startswith("::error ")]
    assert errors == [next(e for e in errors if "approvals" in e)]
    assert errors[0].startswith("::error title=gate raptor-prod r1%3A approvals::0/1 approvals")
    text = summary.read_text()
    assert "### gate raptor-prod r1: **blocked**" in text
    assert "| trigger | ✅ pass | tag v1.0.0 matches v* |" in text


def test_an_invalid_policy_is_refused_with_its_line(ledger_db: ProvisionedDatabase, tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text(POLICY_FILE.read_text().replace('window = "24h"', 'window = "a day"'))
    result = _raxx(ledger_db, *CHECK, GATE_POLICY_FILE=str(bad))
    assert result.exit_code == 78
    assert f"{bad}:" in result.output
    assert "soak.window" in result.output


@pytest.mark.usefixtures("fake_topology")
def test_deploy_freeze_break_glass_and_rollback_from_the_command_line(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    env: dict[str, Any] = {"GATE_TOPOLOGY_FILE": str(fake_topology.topology_file), "GATE_ACTOR": "alice"}
    deploy = (
        "gate",
        "deploy",
        "--app",
        "raptor",
        "--env",
        "staging",
        "--commit",
        "1111111",
        "--artifact",
        "d",
        "--trigger",
        "push",
    )
    assert _raxx(ledger_db, *deploy, "--release", "r1", **env).exit_code == 0
    frozen = _raxx(ledger_db, "gate", "freeze", "--env", "staging", "--for", "2h", "--reason", "load test", **env)
    assert frozen.exit_code == 0, frozen.output
    blocked = _raxx(ledger_db, *deploy, "--release", "r2", **env)
    assert blocked.exit_code == 3
    assert "load test" in blocked.output
    glass = _raxx(ledger_db, *deploy, "--release", "r2", "--break-glass", "--reason", "fix login", "--json", **env)
    assert glass.exit_code == 0, glass.output
    assert json.loads(glass.output)["release"]["trigger"] == "break_glass"
    back = _raxx(ledger_db, "gate", "rollback", "--app", "raptor", "--env", "staging", **env)
    assert back.exit_code == 0, back.output
    assert "rolled back from r2 to r1" in back.output
    assert fake_topology.services["raptor-staging"].release == "r1"
    no_reason = _raxx(ledger_db, *deploy, "--release", "r3", "--break-glass", **env)
    assert no_reason.exit_code == 1
    assert "--break-glass needs --reason" in no_reason.output


def test_approve_during_the_soak_says_how_much_soak_remains(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=6, approve=False)
    result = _raxx(ledger_db, "gate", "approve", "--app", "raptor", "--env", "prod", "--release", "r1", "--by", "bob")
    assert result.exit_code == 0, result.output
    assert "approved r1" in result.output
    assert "approved during the soak: 18h of 1d remain on raptor-staging" in result.output
    assert "void if raptor-staging moves on before then" in result.output


@pytest.mark.usefixtures("fake_topology")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GITHUB_ACTOR", "mallory\n::notice::approved by the release owner"),
        ("USER", "eve\x1b[2Kroot"),
        ("GITHUB_ACTOR", "not-utf8-\udcff"),  # how os.environ holds bytes that are not UTF-8
    ],
)
def test_an_actor_from_the_environment_that_is_not_one_line_is_a_setting_to_fix(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, variable: str, value: str
) -> None:
    unset = {"GATE_ACTOR": "", "GITHUB_ACTOR": ""}
    env = {"GATE_TOPOLOGY_FILE": str(fake_topology.topology_file), **unset, variable: value}
    deploy = ("gate", "deploy", "--app", "raptor", "--env", "staging", "--release", "r1", "--commit", "1111111")
    result = _raxx(ledger_db, *deploy, "--artifact", "d", "--trigger", "push", **env)
    assert result.exit_code == 78, result.output
    assert f"{variable} may not contain control characters" in result.output
    with psycopg.connect(ledger_db.runtime_url) as conn:
        assert conn.execute("SELECT count(*) FROM release").fetchone() == (0,)
    assert fake_topology.services["raptor-staging"].release != "r1"


def test_a_tag_name_that_is_not_one_line_is_refused_before_the_gate_reads_it(ledger_db: ProvisionedDatabase) -> None:
    _seed(ledger_db, soak_hours=30, approve=True)
    tag = {"GITHUB_EVENT_NAME": "push", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.0.0\nfake"}
    result = _raxx(ledger_db, "gate", "check", "--app", "raptor", "--env", "prod", "--release", "r1", **tag)
    assert result.exit_code == 78, result.output
    assert "GITHUB_REF_NAME may not contain control characters" in result.output
