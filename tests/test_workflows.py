"""The GitHub Actions workflows, validated offline: GitHub's schema (check-jsonschema's
vendored copy), zizmor's security audits, and the deploy rules the issue asks for.
Every ``raxx`` command a workflow runs must exist with the options it passes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from raxx.cli import _register_groups, cli

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_three_workflows_exist() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["ci.yml", "deploy-api.yml", "deploy-console.yml"]


def test_workflows_match_githubs_schema() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit_and_checkouts_keep_no_credentials() -> None:
    for name in ("ci.yml", "deploy-api.yml", "deploy-console.yml"):
        for step in steps(load(name)):
            uses = step.get("uses")
            if uses is None:
                continue
            assert PINNED.match(uses), f"{name}: {uses} is not pinned to a commit"
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_readme_test_command_against_a_postgresql_service() -> None:
    ci = load("ci.yml")
    test = ci["jobs"]["test"]
    assert "postgres" in test["services"]
    assert test["services"]["postgres"]["image"].startswith("postgres:")
    assert test["env"]["RAXX_TEST_DATABASE_URL"].startswith("postgresql://postgres@postgres:5432/")
    assert [s["run"] for s in test["steps"] if "run" in s] == ["scripts/test"]
    assert ci["permissions"] == {"contents": "read"}


def test_push_to_main_deploys_staging_then_the_console_through_the_gate() -> None:
    api = load("deploy-api.yml")
    assert api["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    staging = api["jobs"]["staging"]
    assert "refs/heads/main" in staging["if"]
    assert staging["concurrency"] == {"group": "deploy-raptor-staging", "cancel-in-progress": False}
    runs = " ".join(s.get("run", "") for s in staging["steps"])
    assert "raxx gate deploy --app raptor --env staging" in runs
    console = api["jobs"]["console"]
    assert console["needs"] == "staging"
    assert console["uses"].endswith(".github/workflows/deploy-console.yml")
    assert api["env"]["GATE_PLATFORM"] == "heroku"


def test_prod_takes_a_tag_or_a_dispatch_a_gate_check_then_reviewers_then_promote() -> None:
    api = load("deploy-api.yml")
    assert "workflow_dispatch" in api["on"]
    check, promote = api["jobs"]["check"], api["jobs"]["promote"]
    assert "workflow_dispatch" in check["if"]
    assert "refs/tags/v" in check["if"]
    assert "environment" not in check  # the check runs (and explains) before anyone is asked to approve
    assert "raxx gate check --app raptor --env prod" in " ".join(s.get("run", "") for s in check["steps"])
    assert promote["needs"] == "check"
    assert promote["environment"]["name"] == "production"  # required reviewers live on this environment
    assert promote["concurrency"] == {"group": "deploy-raptor-prod", "cancel-in-progress": False}
    assert "raxx gate promote --app raptor --env prod" in " ".join(s.get("run", "") for s in promote["steps"])


def test_the_console_deploy_is_serialised_smoked_and_rolled_back_by_the_gate() -> None:
    console = load("deploy-console.yml")
    assert set(console["on"]) == {"workflow_call", "workflow_dispatch"}
    job = console["jobs"]["deploy"]
    assert job["concurrency"] == {"group": "deploy-console-prod", "cancel-in-progress": False}
    assert "raxx gate deploy --app console --env prod" in " ".join(s.get("run", "") for s in job["steps"])
    policy = (REPO / "deploy" / "policy.toml").read_text()
    # The gate's console deploy smokes through the console into both Raptor environments.
    assert 'smoke_environments = ["staging", "prod"]' in policy


def test_workflow_inputs_reach_commands_through_the_environment_only() -> None:
    """``${{ inputs.* }}`` inside a ``run:`` is a template injection; they go through ``env:``."""
    for name in ("deploy-api.yml", "deploy-console.yml"):
        for step in steps(load(name)):
            assert "${{" not in step.get("run", ""), f"{name}: {step.get('name')} expands an expression in run"


RAXX_CALL = re.compile(r"(?:^|[\s(])raxx\s+([^)\n;&|>]*)")


def raxx_invocations() -> list[tuple[str, list[str]]]:
    """Each ``raxx ...`` a step runs (also inside ``$(...)``), as argv after ``raxx``."""
    return [
        (name, shlex.split(match.group(1)))
        for name in ("ci.yml", "deploy-api.yml", "deploy-console.yml")
        for step in steps(load(name))
        for match in RAXX_CALL.finditer(step.get("run", ""))
    ]


@pytest.mark.parametrize(("workflow", "argv"), raxx_invocations())
def test_every_raxx_command_a_workflow_runs_exists_with_its_options(workflow: str, argv: list[str]) -> None:
    _register_groups()
    command: click.Command = cli
    words = list(argv)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        name = words.pop(0)
        assert name in command.commands, f"{workflow}: raxx has no command {name!r}"
        command = command.commands[name]
    known = {opt for param in command.params for opt in param.opts}
    used = {word.split("=", 1)[0] for word in words if word.startswith("--")}
    assert used <= known, f"{workflow}: {command.name} has no option(s) {sorted(used - known)}"


def test_there_are_raxx_commands_to_check() -> None:
    assert len(raxx_invocations()) >= 5
