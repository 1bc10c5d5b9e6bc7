"""Issue 8, bad input at scale: schemathesis over Raptor's OpenAPI and the console's JSON API.

Both run against real processes on free ports (uvicorn, real PostgreSQL), with more
examples than the unit-level fuzz in ``tests/raptor/test_schema_fuzz.py`` but still
bounded. Callers hold every permission (a Raptor token of every scope; a console token
of a user who is admin in every environment) so the generated requests reach the
authorized code paths, not only the 401s. For every response: no 5xx, and the status
code, content type and body are ones the served document declares.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from raxx.common.aio import run_sync
from raxx.common.provision import ProvisionedDatabase
from raxx.console.app import create_app as create_console_app
from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.config import RaptorSettings
from raxx.raptor.token.format import SCOPES
from tests.console.conftest import RunningRaptor, raptor_tokens
from tests.fixtures.apps import add_user, console_app, console_settings, raptor_settings, write_registry
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, issue
from tests.fixtures.security import issue_api_token
from tests.fixtures.servers import serve

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Per operation: 2.5x the unit-level run, bounded so the whole file stays near a minute.
RAPTOR_EXAMPLES = 75
CONSOLE_EXAMPLES = 40
ENVS = ("staging", "prod")
FUZZ_SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": False}

# -- Raptor --------------------------------------------------------------------


def _raptor_document() -> dict[str, Any]:
    """The document a Raptor serves (building an app touches no database)."""
    app = create_raptor_app(
        RaptorSettings(environment="staging", database_url="postgresql://x@127.0.0.1/x", release="test-release")
    )
    return app.openapi()


raptor_schema = schemathesis.openapi.from_dict(_raptor_document())


@pytest.fixture(scope="module")
def raptor_served(test_databases: DatabaseFactory) -> Iterator[tuple[str, str]]:
    """A staging Raptor over HTTP and a token holding every scope there is."""
    db = test_databases.fresh("raptor")
    token = issue(db, "staging", *SCOPES, name="fuzz (every scope)")
    with serve(create_raptor_app(raptor_settings(db, "staging", **QUIET))) as server:
        yield server.url, token


@raptor_schema.parametrize()
@settings(max_examples=RAPTOR_EXAMPLES, **FUZZ_SETTINGS)
def test_raptor_answers_any_input_within_its_schema(case: schemathesis.Case, raptor_served: tuple[str, str]) -> None:
    base_url, token = raptor_served
    headers = {"Authorization": f"Bearer {token}", "X-Raxx-Actor": "fuzz"}
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)


# -- the console's JSON API ------------------------------------------------------

ADMIN = "fuzz-admin"
ADMIN_PASSWORD = "fuzzing admin passphrase 2026"


def _console_document() -> dict[str, Any]:
    """The document a console serves (building the app reads the registry, touches no database)."""
    with tempfile.TemporaryDirectory() as scratch:
        registry = write_registry(Path(scratch) / "environments.toml", {env: "http://127.0.0.1:9" for env in ENVS})
        db = ProvisionedDatabase("x", "postgresql://x@127.0.0.1/x", "postgresql://x@127.0.0.1/x")
        return create_console_app(console_settings(db, registry)).openapi()


console_schema = schemathesis.openapi.from_dict(_console_document()).include(path_regex="^/api/")


@console_schema.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Mostly a real environment (so calls get past the registry), sometimes the generated one."""
    if not path_parameters or "env" not in path_parameters:
        return st.just(path_parameters)
    real = st.sampled_from(ENVS).map(lambda env: {**path_parameters, "env": env})
    return st.one_of(real, real, real, st.just(path_parameters))


@pytest.fixture(scope="module")
def console_served(
    test_databases: DatabaseFactory, raptors: dict[str, RunningRaptor], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A console over HTTP in front of real staging and prod Raptors; a token of a user who is admin in both."""
    db = test_databases.fresh("console")
    registry = write_registry(
        tmp_path_factory.mktemp("fuzz") / "environments.toml", {e: r.url for e, r in raptors.items()}
    )
    run_sync(lambda: add_user(db, ADMIN, ADMIN_PASSWORD, dict.fromkeys(ENVS, "admin")))
    token, _ = run_sync(lambda: issue_api_token(db, ADMIN, name="fuzz"))
    # The fuzz judges answers against the schema, not latency: with the suite's 2 s wait for
    # Raptor, a read on a machine running three test runs once came back 504 (backend_timeout).
    with serve(console_app(db, registry, raptor_tokens(raptors), raptor_timeout_s=10.0)) as server:
        yield server.url, token


@console_schema.parametrize()
@settings(max_examples=CONSOLE_EXAMPLES, **FUZZ_SETTINGS)
def test_console_api_answers_any_input_within_its_schema(
    case: schemathesis.Case, console_served: tuple[str, str]
) -> None:
    base_url, token = console_served
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
