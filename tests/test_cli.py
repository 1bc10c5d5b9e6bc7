"""The CLI turns refusals into one line and an exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RAPTOR_", "CONSOLE_", "GATE_"))}
    return subprocess.run(
        [sys.executable, "-m", "raxx", *args], capture_output=True, text=True, env={**base, **(env or {})}, timeout=60
    )


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
