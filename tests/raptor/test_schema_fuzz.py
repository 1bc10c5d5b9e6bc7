"""Schemathesis against a real Raptor (uvicorn on a free port, real PostgreSQL).

Every operation of the OpenAPI document is called with generated requests (bounded
examples) and an admin+trade token: no response may be a 5xx, and every response must
match a status code, content type and schema the document declares.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from raxx.common.pgembed import free_port
from raxx.raptor.app import create_app
from raxx.raptor.config import RaptorSettings
from tests.fixtures.apps import raptor_settings
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.raptor import QUIET, issue

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _document() -> dict[str, object]:
    """The document the served app publishes (building an app touches no database)."""
    app = create_app(
        RaptorSettings(environment="staging", database_url="postgresql://x@127.0.0.1/x", release="test-release")
    )
    return app.openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def served(test_databases: DatabaseFactory) -> Iterator[tuple[str, str]]:
    db = test_databases.fresh("raptor")
    token = issue(db, "staging", "trade", "admin", name="fuzz")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(raptor_settings(db, "staging", **QUIET)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, served: tuple[str, str]) -> None:
    base_url, token = served
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


def test_the_document_declares_every_error_code_of_the_order_path() -> None:
    document = _document()
    submit = document["paths"]["/v1/orders"]["post"]["responses"]  # type: ignore[index]
    assert set(submit) == {"200", "201", "400", "401", "403", "409", "413", "415", "422", "503"}
    error = submit["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert "RaptorToken" in document["components"]["securitySchemes"]  # type: ignore[index]
