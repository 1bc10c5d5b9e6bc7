"""The GitHub Actions workflows: checked as GitHub would (``scripts/check-workflows``:
GitHub's schema, actionlint, zizmor), the deploy rules the issue asks for, and every
``raxx`` command a deploy workflow runs, run for real with the workflows' own environment
against a fake Heroku, a real ledger and fake deployments (``tests/fixtures/workflows.py``)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from raxx.common.clock import SystemClock
from raxx.common.db import libpq_url
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.records import approve
from tests.fixtures.fake_heroku import FakeHeroku
from tests.fixtures.gate import POLICY_FILE, SMOKE_TOKEN, LocalTopology, add_samples, gate_context, local_topology
from tests.fixtures.gitrepo import make_checkout
from tests.fixtures.servers import serve
from tests.fixtures.workflows import REPO, WORKFLOWS, Runner, command_shape, load, raxx_invocations, steps

BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
DEPLOYS = ("deploy-api.yml", "deploy-console.yml")


def test_the_three_workflows_exist() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["ci.yml", "deploy-api.yml", "deploy-console.yml"]


def test_the_workflow_linters_find_nothing() -> None:
    """The same script ``scripts/check`` runs: schema, actionlint (with shellcheck), zizmor."""
    result = subprocess.run(
        [str(REPO / "scripts" / "check-workflows")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"VIRTUAL_ENV": str(BIN.parent), "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())},
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


def test_ci_tests_every_python_scripts_install_accepts_each_in_its_own_job() -> None:
    supported = re.search(r"^SUPPORTED=\((.*)\)", (REPO / "scripts" / "find-python").read_text(), re.M)
    assert supported
    test = load("ci.yml")["jobs"]["test"]
    assert sorted(test["strategy"]["matrix"]["python"]) == sorted(supported.group(1).split())
    assert test["strategy"]["fail-fast"] is False
    # each job's Python is its image's, and scripts/test runs that version only (and names it)
    assert test["container"]["image"] == "python:${{ matrix.python }}-bookworm"
    assert test["env"]["RAXX_PYTHONS"] == "${{ matrix.python }}"
    assert "${{ matrix.python }}" in test["name"]


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


def test_no_workflow_passes_a_copied_database_url() -> None:
    """Heroku rotates database credentials: a URL in a GitHub secret goes stale. The gate is told
    where the URL lives (``GATE_DATABASE_URL_FROM``) and reads it when it runs."""
    text = "\n".join((WORKFLOWS / name).read_text() for name in DEPLOYS)
    assert "DATABASE_URL }}" not in text
    assert not re.search(r"secrets\.\w*DATABASE", text)
    api = load("deploy-api.yml")
    assert api["env"]["GATE_DATABASE_URL_FROM"] == "${{ vars.GATE_DATABASE_URL_FROM }}"
    assert load("deploy-console.yml")["jobs"]["deploy"]["env"]["GATE_DATABASE_URL_FROM"] == (
        "${{ vars.GATE_DATABASE_URL_FROM }}"
    )


def test_the_console_deploy_records_the_switcher_the_retirement_check_counts() -> None:
    """``feature_in_prod`` counts the days console-prod releases carried ``env-switcher`` in the
    ledger; only a deploy that passes ``--feature`` (or inherits it) carries it."""
    policy = (REPO / "deploy" / "policy.toml").read_text()
    feature = re.search(r'\[retirement\.console-staging\][^\[]*?feature = "([\w-]+)"', policy, re.S)
    assert feature is not None
    deploys = [argv for _, argv in raxx_invocations(("deploy-console.yml",)) if argv[:2] == ["gate", "deploy"]]
    assert deploys
    for argv in deploys:
        assert argv[argv.index("--feature") + 1] == feature.group(1)
    runbook = (REPO / "docs" / "ops-runbook.md").read_text()
    assert f"deployed with `--feature {feature.group(1)}`" in runbook


CALLER = """
name: caller
on: push
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-24.04
    outputs:
      release: ${{ steps.r.outputs.release }}
    steps:
      - id: r
        run: echo "release=${GITHUB_SHA}" >> "$GITHUB_OUTPUT"
  deploy:
    needs: build
    uses: $/.github/workflows/called.yml
    with:
      release: ${{ needs.build.outputs.release }}
"""
CALLED = """
name: called
on:
  workflow_call:
    inputs:
      release:
        type: string
        required: true
permissions:
  contents: read
jobs:
  run:
    runs-on: ubuntu-24.04
    steps:
      - env:
          RELEASE: ${{ inputs.release }}
        run: echo "$RELEASE"
"""


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (None, None),
        (("release: ${{ needs.build", "relase: ${{ needs.build"), 'input "relase" is not defined'),
        (("needs: build", "needs: bulid"), 'job "deploy" needs job "bulid" which does not exist'),
        (("called.yml\n", "nowhere.yml\n"), "could not read reusable workflow file"),
        (("needs.build.outputs.release", "needs.build.outputs.version"), 'property "version" is not defined'),
        (('echo "$RELEASE"', "echo $RELEASE"), "SC2086"),
    ],
)
def test_actionlint_knows_the_self_repository_form_and_githubs_semantics(
    tmp_path: Path, change: tuple[str, str] | None, finding: str | None
) -> None:
    """The pinned actionlint accepts ``uses: $/...`` and checks what it calls; upstream's latest
    release refuses the form ("ref is missing"), so a regression would show here."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    caller = CALLER if change is None or change[0] not in CALLER else CALLER.replace(*change)
    called = CALLED if change is None or change[0] not in CALLED else CALLED.replace(*change)
    (folder / "caller.yml").write_text(caller)
    (folder / "called.yml").write_text(called)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # actionlint finds the project by its .git
    result = subprocess.run(
        [str(BIN / "actionlint"), f"-shellcheck={BIN / 'shellcheck'}", "-no-color"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if finding is None:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        assert finding in result.stdout


# -- the deploy workflows, run --------------------------------------------------------------

APPS = {"raptor-staging": "acme-raptor-staging", "raptor-prod": "acme-raptor-prod", "console-prod": "acme-console"}


@pytest.fixture
def heroku(ledger_db: ProvisionedDatabase, tmp_path: Path) -> Iterator[tuple[FakeHeroku, LocalTopology, str]]:
    """The three apps on a fake Heroku whose release phase moves fake deployments; the ledger's
    URL is a config var of the console app, as the add-on attachment makes it."""
    fake = FakeHeroku()
    for app in APPS.values():
        fake.add_app(app, pipeline="raxx", stage="staging" if app.endswith("staging") else "production")
    url = libpq_url(ledger_db.runtime_url).replace("postgresql://", "postgres://", 1)  # Heroku's form
    fake.config_vars["acme-console"].update({"GATE_DATABASE_URL": url, "GATE_READONLY_DATABASE_URL": url})
    with local_topology(tmp_path / "data") as topology, serve(fake.app()) as server:
        services = {app: service for service, app in APPS.items()}

        def dyno_restarted(app: str, commit: str) -> None:
            topology.services[services[app]].release = commit

        fake.on_release = dyno_restarted
        fake.base_url = server.url
        yield fake, topology, server.url


def github(runner_env: dict[str, str], event: str, actor: str) -> dict[str, str]:
    return {**runner_env, "GITHUB_EVENT_NAME": event, "GITHUB_ACTOR": actor}


@pytest.mark.e2e
def test_the_deploy_workflows_run_every_raxx_command_they_name(
    heroku: tuple[FakeHeroku, LocalTopology, str], ledger_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    """A push to main (staging, then the console through ``$/`` deploy-console.yml), a soak and
    an approval, then a dispatch (check, promote): every ``run:`` step of both deploy workflows
    as a runner runs it, with their env. Only the fake Heroku's address and a fast poll are
    added; everything else comes from the workflows, their vars and their secrets."""
    fake, topology, heroku_url = heroku
    checkout = make_checkout(tmp_path / "checkout")
    (checkout.path / "deploy").mkdir()
    (checkout.path / "deploy" / "policy.toml").write_text(POLICY_FILE.read_text())  # GATE_POLICY_FILE is relative
    urls = {name: service.url for name, service in topology.services.items()}
    context: dict[str, Any] = {
        "vars": {
            "GATE_HEROKU_APPS": json.dumps(APPS),
            "GATE_DATABASE_URL_FROM": "acme-console:GATE_DATABASE_URL",
            "GATE_READONLY_DATABASE_URL_FROM": "acme-console:GATE_READONLY_DATABASE_URL",
            "RAPTOR_STAGING_URL": urls["raptor-staging"],
            "RAPTOR_PROD_URL": urls["raptor-prod"],
            "CONSOLE_URL": urls["console-prod"],
        },
        "secrets": {
            "HEROKU_API_TOKEN": fake.token,
            "HEROKU_READ_TOKEN": fake.token,
            "GATE_CONSOLE_SMOKE_TOKEN": SMOKE_TOKEN,
        },
        "inputs": {"release": ""},
    }
    environ = {
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": checkout.a,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_REF_NAME": "main",
        "GATE_HEROKU_API_URL": heroku_url,
        "GATE_HEROKU_POLL_S": "0.05",
    }
    runner = Runner(checkout.path, github(environ, "push", "alice"), tmp_path / "runner")
    api = load("deploy-api.yml")

    staging = runner.job(api, "staging", context)  # push to main
    assert staging == {"release": checkout.a}
    runner.job(api, "console", {**context, "needs": {"staging": {"outputs": staging}}})
    assert (fake.commit_of("acme-raptor-staging"), fake.commit_of("acme-console")) == (checkout.a, checkout.a)

    asyncio.run(soak_and_approve(ledger_db, checkout.a))
    runner.environ = github(runner.environ, "workflow_dispatch", "carol")
    check = runner.job(api, "check", context)
    assert check == {"release": checkout.a}
    runner.job(api, "promote", {**context, "needs": {"check": {"outputs": check}}})
    assert fake.commit_of("acme-raptor-prod") == checkout.a

    with psycopg.connect(libpq_url(ledger_db.runtime_url)) as conn:
        features = conn.execute(
            "SELECT features FROM release WHERE app = 'console' AND environment = 'prod'"
        ).fetchone()
    assert features == (["env-switcher"],)

    ran = {command_shape(argv) for argv in runner.recorded()}
    for workflow, argv in raxx_invocations(DEPLOYS):
        assert command_shape(argv) in ran, f"{workflow}: `raxx {' '.join(argv)}` was not run"


async def soak_and_approve(db: ProvisionedDatabase, commit: str) -> None:
    """A day on staging, compressed: the release's deploy moved 25 h back, the monitor's
    samples for those hours, and a release owner's approval (not the person who promotes)."""
    now = datetime.now(UTC)
    start = now - timedelta(hours=25)
    with psycopg.connect(libpq_url(db.owner_url), autocommit=True) as conn:
        conn.execute(
            "UPDATE release SET deployed_at = %s, finished_at = %s WHERE app = 'raptor' AND environment = 'staging'",
            (start, start + timedelta(minutes=1)),
        )
    async with gate_context(db, clock=SystemClock()) as ctx:  # type: ignore[arg-type]
        await add_samples(ctx, "raptor-staging", start, now, release=commit)
        await approve(ctx, app="raptor", environment="prod", release_id=commit, approver="bob", comment=None)


def test_there_are_raxx_commands_to_run() -> None:
    assert len(raxx_invocations(DEPLOYS)) >= 5
