"""The CLI speaks to people: one line and a documented exit code for every failure, never a
traceback (unless ``--debug``); validated options; ``--version``; a quiet closed pipe; a
``--help`` that imports nothing heavy. Every test runs the real ``raxx`` in a process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from raxx.cli import LAZY_COMMANDS, _register_groups, cli
from raxx.common.db import create_engine
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from raxx.exits import EXIT_CODES, Exit, explain
from tests.fixtures.database import REPO_ROOT, DatabaseFactory

POLICY = str(REPO_ROOT / "deploy" / "policy.toml")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RAPTOR_", "CONSOLE_", "GATE_", "RAXX_"))}
    return subprocess.run(
        [sys.executable, "-m", "raxx", *args], capture_output=True, text=True, env={**base, **(env or {})}, timeout=120
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure's only line on stderr, and no traceback anywhere.

    Structured log lines before it are the command's own (``raxx release`` states its
    connection pools, as the release phase should); anything else is not.
    """
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith('{"ts":')]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("raxx: ")
    assert result.stderr.strip().endswith(lines[0])
    return lines[0]


def test_raptor_refuses_to_start_without_its_environment() -> None:
    result = run("raptor", "serve", env={"RAPTOR_DATABASE_URL": "postgresql://x@127.0.0.1/x"})
    assert result.returncode == 78
    assert result.stderr.strip().splitlines()[-1] == "raxx: RAPTOR_ENVIRONMENT is required but not set"
    assert "Traceback" not in result.stderr


def test_raptor_refuses_an_invalid_environment_name() -> None:
    result = run("raptor", "serve", env={"RAPTOR_ENVIRONMENT": "PROD!", "RAPTOR_DATABASE_URL": "postgresql://x@h/x"})
    assert result.returncode == 78
    assert "RAPTOR_ENVIRONMENT is invalid" in result.stderr


def test_console_refuses_a_placeholder_secret_outside_development() -> None:
    result = run(
        "console", "serve", env={"CONSOLE_DATABASE_URL": "postgresql://x@h/x", "CONSOLE_SECRET_KEY": "changeme"}
    )
    assert result.returncode == 78
    assert "CONSOLE_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_without_a_database_names_the_setting() -> None:
    result = run("migrate", "raptor")
    assert result.returncode == 78
    assert "RAPTOR_DATABASE_URL is required" in result.stderr


# --- a database that is down, misnamed or not migrated -----------------------------------


def _down_url() -> str:
    """A PostgreSQL URL nobody answers (a port just found free), with a password to keep secret."""
    return f"postgresql://raxx_app:pw-not-shown@127.0.0.1:{free_port()}/raxx_console"


@pytest.mark.parametrize(
    ("args", "setting", "code"),
    [
        (("gate", "board"), "GATE_DATABASE_URL", 4),  # the gate cannot decide: verdict.py's 4
        (
            ("gate", "check", "--app", "raptor", "--env", "prod", "--release", "r1", "--by", "ci"),
            "GATE_DATABASE_URL",
            4,
        ),
        (("raptor", "token", "list"), "RAPTOR_DATABASE_URL", 69),
        (("console", "token", "list"), "CONSOLE_DATABASE_URL", 69),
        (("console", "user", "grant", "alice", "--env", "prod", "--role", "viewer"), "CONSOLE_DATABASE_URL", 69),
        (("audit", "verify", "--no-record"), "CONSOLE_DATABASE_URL", 69),
        (("migrate", "console"), "CONSOLE_DATABASE_URL", 69),
        (("release",), "RAPTOR_DATABASE_URL", 69),
    ],
)
def test_an_unreachable_database_is_one_line_naming_the_setting(args: tuple[str, ...], setting: str, code: int) -> None:
    env = {setting: _down_url(), "GATE_POLICY_FILE": POLICY, "RAXX_APP": "raptor", "RAPTOR_ENVIRONMENT": "staging"}
    result = run(*args, env=env)
    line = one_line(result)
    assert result.returncode == code, result.stderr
    assert 'cannot reach database "raxx_console" as "raxx_app" at 127.0.0.1:' in line
    assert "Connection refused" in line
    assert setting in line
    assert "pw-not-shown" not in line


@pytest.mark.parametrize(
    ("app", "args"),
    [("console", ("audit", "verify", "--no-record")), ("raptor", ("raptor", "token", "list"))],
)
def test_on_a_dyno_every_command_finds_the_apps_database_in_database_url(app: str, args: tuple[str, ...]) -> None:
    """``heroku run raxx audit verify -a acme-console``: Heroku sets DATABASE_URL, not
    CONSOLE_DATABASE_URL; the command reaches for it as ``raxx web`` does (here: nobody answers,
    so it says it cannot reach it, rather than that no URL was set)."""
    result = run(*args, env={"RAXX_APP": app, "RAPTOR_ENVIRONMENT": "staging", "DATABASE_URL": _down_url()})
    assert result.returncode == 69, result.stderr
    assert 'cannot reach database "raxx_console"' in one_line(result)


def test_a_url_given_on_the_command_line_is_named_as_such() -> None:
    result = run("raptor", "token", "list", "--database-url", _down_url())
    assert result.returncode == 69
    assert "correct the URL given on the command line" in one_line(result)


def test_a_database_that_does_not_exist_is_a_configuration_error(test_databases: DatabaseFactory) -> None:
    head, _, _ = test_databases.superuser_url("x").rpartition("/")
    result = run("console", "token", "list", env={"CONSOLE_DATABASE_URL": f"{head}/raxx_no_such_database"})
    assert result.returncode == 78
    line = one_line(result)
    assert 'database "raxx_no_such_database" does not exist' in line
    assert "correct CONSOLE_DATABASE_URL" in line


def test_a_database_that_is_not_migrated_says_which_migration_to_run(test_databases: DatabaseFactory) -> None:
    empty = test_databases.empty("raptor")
    result = run("raptor", "token", "list", env={"RAPTOR_DATABASE_URL": empty.runtime_url})
    assert result.returncode == 78
    line = one_line(result)
    assert "not migrated" in line
    assert "`raxx migrate raptor`" in line


def test_debug_prints_the_traceback_and_keeps_the_exit_code() -> None:
    env = {"CONSOLE_DATABASE_URL": _down_url()}
    flagged = run("--debug", "console", "token", "list", env=env)
    by_env = run("console", "token", "list", env={**env, "RAXX_DEBUG": "1"})
    for result in (flagged, by_env):
        assert result.returncode == 69
        assert "Traceback (most recent call last)" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("raxx: cannot reach database")


# --- the mapping itself ----------------------------------------------------------------


def test_explain_maps_each_kind_of_failure_to_its_code() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/readyz")
    cases: list[tuple[BaseException, str | None, int, str]] = [
        (ValueError("boom"), None, Exit.SOFTWARE, "unexpected error: ValueError: boom"),
        (KeyboardInterrupt(), None, Exit.INTERRUPTED, "interrupted"),
        (FileNotFoundError(2, "No such file or directory", "/x/y.toml"), None, Exit.IO, "/x/y.toml"),
        (ConnectionRefusedError(111, "Connection refused"), None, Exit.UNAVAILABLE, "Connection refused"),
        (httpx.ConnectError("refused", request=request), None, Exit.UNAVAILABLE, "http://127.0.0.1:9/readyz"),
        (httpx.ConnectError("refused", request=request), "gate", 4, "cannot reach"),
        (psycopg.errors.TooManyConnections("sorry, too many clients already"), None, 69, "connection limit"),
        (psycopg.errors.UndefinedTable('relation "api_tokens" does not exist'), "raptor", 78, "raxx migrate raptor"),
    ]
    for exc, group, code, words in cases:
        failure = explain(exc, group=group)
        assert failure.code == code, (exc, failure)
        assert words in failure.line, (exc, failure)
    assert "--debug" in explain(ValueError("boom")).line


def test_the_readme_documents_every_exit_code() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## The command line", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| (\d+(?:-\d+)?) \|", section, flags=re.MULTILINE)
    assert documented == list(EXIT_CODES)


# --- options, version, pipe, help -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("up", "--console-port", "99999"), "'--console-port': 99999 is not in the range 1<=x<=65535"),
        (("up", "--staging-port", "0"), "'--staging-port': 0 is not in the range"),
        (("up", "--console-port", "18790", "--staging-port", "18790"), "must be three different ports"),
        (("web", "--workers", "0"), "'--workers'"),
        (("gate", "freeze", "--env", "prod", "--for", "soon", "--reason", "x"), "'soon' is not a duration"),
        (("audit", "reconcile", "--older-than", "5x"), "'5x' is not a duration"),
        (
            ("console", "user", "grant", "alice", "--env", "sandbox", "--role", "viewer"),
            "not in the environment registry",
        ),
        (("raptor", "token", "issue", "--env", "sandbox", "--scope", "read"), "(one of: staging, prod)"),
    ],
)
def test_invalid_options_are_usage_errors_naming_the_option(args: tuple[str, ...], words: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_an_environment_is_checked_against_the_registry_in_use(tmp_path: Path) -> None:
    registry = tmp_path / "environments.toml"
    registry.write_text('[environments.sandbox]\nraptor_url = "http://127.0.0.1:9"\n')
    result = run("console", "token", "list", env={"CONSOLE_ENVIRONMENTS_FILE": str(registry)})
    assert result.returncode == 78  # no database configured: past the options
    granted = run(
        "console", "user", "grant", "a", "--env", "sandbox", "--role", "viewer",
        env={"CONSOLE_ENVIRONMENTS_FILE": str(registry)},
    )  # fmt: skip
    assert granted.returncode == 78, granted.stderr  # sandbox is valid here; the database is what is missing
    own = run("raptor", "token", "issue", "--env", "sandbox", "--scope", "read", env={"RAPTOR_ENVIRONMENT": "sandbox"})
    assert own.returncode == 78, own.stderr  # a Raptor dyno's own environment, without the console's registry
    assert "RAPTOR_DATABASE_URL is required" in own.stderr


def test_version_names_the_package_version_and_the_release() -> None:
    result = run("--version", env={"RAXX_RELEASE": "r42"})
    assert result.returncode == 0
    assert re.fullmatch(r"raxx \d+\.\d+\.\d+\S* \(release r42\)\n", result.stdout)


def test_a_closed_pipe_ends_quietly(console_db: ProvisionedDatabase) -> None:
    async def fill() -> None:
        from raxx.console.audit.events import AuditContext
        from raxx.console.audit.service import AuditTrail

        engine = create_engine(console_db.runtime_url, application_name="test-fill", pool_size=1)
        trail = AuditTrail(engine)
        for _n in range(300):  # ~150 KB of JSON Lines: more than a pipe holds
            await trail.record(AuditContext(actor_name="filler"), "test.fill", outcome="ok", params={"pad": "x" * 400})
        await engine.dispose()

    asyncio.run(fill())
    script = f"{sys.executable} -m raxx audit export | head -1 > /dev/null; echo ${{PIPESTATUS[0]}}"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "RAXX_"))}
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**base, "CONSOLE_DATABASE_URL": console_db.runtime_url},
        timeout=120,
    )
    assert result.stdout.strip() == str(int(Exit.CLOSED_PIPE)), result.stderr
    assert result.stderr == ""


HEAVY = (
    "sqlalchemy",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "httpx",
    "aiohttp",
    "rich",
    "fastapi",
    "asyncio",
    "opentelemetry",
)
PROBE = """
import sys
from raxx.__main__ import main
sys.argv = ["raxx", *sys.argv[1:], "--help"]
try:
    main()
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("loaded:", ",".join(heavy), "code:", code)
"""


@pytest.mark.parametrize("group", ["", *LAZY_COMMANDS])
def test_help_imports_nothing_heavy(group: str) -> None:
    """``raxx --help`` and each group's help: click and our light modules only (bench/cli_help.py times it)."""
    probe = PROBE.format(heavy=set(HEAVY))
    result = subprocess.run(
        [sys.executable, "-c", probe, *([group] if group else [])], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "loaded:  code: 0", result.stdout + result.stderr


def test_every_lazy_group_resolves_to_its_command() -> None:
    _register_groups()
    for name in LAZY_COMMANDS:
        assert cli.commands[name].name == name
