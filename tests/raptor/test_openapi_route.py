"""``raxx.raptor.openapi.route``: what an authenticated endpoint declares by it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel

from raxx.raptor.openapi import AUTH_ERRORS, BODY_ERRORS, route


class Thing(BaseModel):
    name: str


def _operations() -> dict[str, Any]:
    router = APIRouter(prefix="/things")

    @route(router.get, "", "read a thing", 503)
    async def read_thing() -> Thing:
        return Thing(name="x")

    @route(router.put, "", "write a thing", body=True)
    async def write_thing(body: Thing) -> Thing:
        return body

    @route(router.delete, "", "drop a thing", 409, descriptions={"d409": "held"}, response_model=Thing)
    async def drop_thing() -> Response:
        return Response()

    app = FastAPI()
    app.include_router(router)
    return app.openapi()["paths"]["/things"]


def test_route_declares_the_auth_errors_its_codes_and_the_return_annotation_as_model() -> None:
    operations = _operations()
    get, put, delete = operations["get"], operations["put"], operations["delete"]
    assert get["summary"] == "read a thing"
    assert set(get["responses"]) == {"200", *map(str, AUTH_ERRORS), "503"}
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
    assert set(put["responses"]) == {"200", *map(str, BODY_ERRORS)}
    assert delete["responses"]["409"]["description"] == "held"
    assert delete["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Thing"}
