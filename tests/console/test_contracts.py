"""The console's reading of Raptor's wire models (``raxx.common.contracts.trading``) matches Raptor's OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from raxx.common.contracts import trading as wire
from raxx.raptor.app import create_app
from raxx.raptor.config import RaptorSettings


@pytest.fixture(scope="module")
def raptor_schemas() -> dict[str, Any]:
    app = create_app(RaptorSettings(environment="staging", database_url="postgresql://x@127.0.0.1:1/x"))
    return dict(app.openapi()["components"]["schemas"])


READ_MODELS: list[tuple[type[BaseModel], str]] = [
    (wire.OrderRead, "OrderRead"),
    (wire.Fill, "Fill"),
    (wire.OrderList, "OrderList"),
    (wire.CancelAllResult, "CancelAllResult"),
    (wire.CancelFailure, "CancelFailure"),
    (wire.PositionRead, "PositionRead"),
    (wire.PositionList, "PositionList"),
    (wire.AccountRead, "AccountRead"),
    (wire.TradingStateRead, "TradingStateRead"),
]


@pytest.mark.parametrize(("model", "name"), READ_MODELS, ids=[n for _, n in READ_MODELS])
def test_every_field_the_console_requires_is_one_raptor_always_sends(
    model: type[BaseModel], name: str, raptor_schemas: dict[str, Any]
) -> None:
    schema = raptor_schemas.get(name) or raptor_schemas[f"{name}-Output"]
    sent = set(schema["properties"])
    required_by_console = {n for n, f in model.model_fields.items() if f.is_required()}
    assert set(model.model_fields) <= sent, (
        f"the console reads fields Raptor does not have: {set(model.model_fields) - sent}"
    )
    assert required_by_console <= set(schema.get("required", [])), "the console requires fields Raptor may omit"


@pytest.mark.parametrize(("model", "name"), [(wire.OrderCreate, "OrderCreate"), (wire.HaltRequest, "HaltRequest")])
def test_what_the_console_sends_is_what_raptor_accepts(
    model: type[BaseModel], name: str, raptor_schemas: dict[str, Any]
) -> None:
    schema = raptor_schemas[name]
    assert set(model.model_fields) == set(schema["properties"])
    required_by_raptor = set(schema.get("required", []))
    assert required_by_raptor <= {n for n, f in model.model_fields.items() if f.is_required()}


def test_statuses_match(raptor_schemas: dict[str, Any]) -> None:
    status = raptor_schemas["OrderRead"]["properties"]["status"] if "OrderRead" in raptor_schemas else None
    status = status or raptor_schemas["OrderRead-Output"]["properties"]["status"]
    assert set(status["enum"]) == set(wire.ORDER_STATUSES)
