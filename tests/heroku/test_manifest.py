"""The harness reads the Procfile and app.json as Heroku does, and refuses what it would not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.heroku.manifest import ManifestError, read_app_json, read_procfile
from tests.heroku.slug import ignored, slugignore_patterns

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_procfile_has_web_release_and_monitor() -> None:
    assert read_procfile(REPO_ROOT / "Procfile") == {
        "web": "raxx web",
        "release": "raxx release",
        "monitor": "raxx monitor",
    }


@pytest.mark.parametrize("text", ["web raxx web\n", "web: raxx web\nweb: raxx web\n", "we b: x\n"])
def test_a_malformed_procfile_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "Procfile").write_text(text)
    with pytest.raises(ManifestError):
        read_procfile(tmp_path / "Procfile")


def test_app_json_gives_the_plan_limit_and_refuses_undeclared_config() -> None:
    manifest = read_app_json(REPO_ROOT / "app.json")
    assert manifest.postgres_plan == "essential-0"
    assert manifest.connection_limit == 20
    manifest.check_config("raptor", {"RAXX_APP": "raptor", "RAPTOR_ENVIRONMENT": "staging"})
    with pytest.raises(ManifestError, match="RAPTOR_SECRET_TYPO"):
        manifest.check_config("raptor", {"RAXX_APP": "raptor", "RAPTOR_SECRET_TYPO": "x"})


def test_slugignore_drops_tests_and_docs_but_not_the_package() -> None:
    patterns = slugignore_patterns(REPO_ROOT)
    assert ignored(Path("tests/heroku/slug.py"), patterns)
    assert ignored(Path("docs/deploying-heroku.md"), patterns)
    assert not ignored(Path("src/raxx/runtime.py"), patterns)
    assert not ignored(Path("deploy/policy.toml"), patterns)
