"""The CI scenario (tests/heroku/scenario.py): Raxx run as Heroku runs it, checked end to end.

Slow by nature (a slug build, three apps, a minute of load, a 30 s router timeout); its
report is written to ``test-output/heroku-local.json`` and its figures are the ones
docs/deploying-heroku.md quotes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.output import output_dir, run_state
from tests.heroku.scenario import run_scenario

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE = run_state("heroku-local")

pytestmark = [pytest.mark.heroku, pytest.mark.timeout(900)]


def test_the_apps_run_as_heroku_runs_them() -> None:
    # Under the repository, not a temp dir: as root the embedded PostgreSQL runs as an
    # unprivileged user that must reach its data directory.
    report = run_scenario(STATE / "pytest", repo=REPO_ROOT, slug_dir=STATE / "pytest-slug")
    out = output_dir() / "heroku-local.json"
    out.write_text(json.dumps(report.as_dict(), indent=2, default=str))
    print(report.render())
    assert report.ok, report.render()
