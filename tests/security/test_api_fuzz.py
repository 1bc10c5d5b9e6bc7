"""Issue 8, bad input at scale: schemathesis over Raptor's OpenAPI and the console's JSON API.

Both run against real processes on free ports (uvicorn, real PostgreSQL), with more
examples than the unit-level fuzz in ``tests/raptor/test_schema_fuzz.py`` but still
bounded. Callers hold every permission (a Raptor token of every scope; a console token
of a user who is admin in every environment) so the generated requests reach the
authorized code paths, not only the 401s. For every response: no 5xx, and the status
code, content type and body are ones the served document declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from raxx.raptor.app import create_app as create_raptor_app
from raxx.raptor.config import RaptorSettings
from raxx.raptor.token.format import SCOPES
from tests.fixtures.apps import raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, issue
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
