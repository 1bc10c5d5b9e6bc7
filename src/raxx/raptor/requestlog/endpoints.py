"""``GET /v1/requests/{request_id}``: exact, from the request log written with each mutation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from raxx.raptor.deps import ReadCaller, SessionDep
from raxx.raptor.openapi import route
from raxx.raptor.requestlog import repository
from raxx.raptor.requestlog.schemas import RequestLookup

router = APIRouter(prefix="/v1/requests", tags=["requests"])


@route(router.get, "/{request_id}", "What mutation, if any, Raptor performed for a request id")
async def lookup_request(
    request_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")], session: SessionDep, caller: ReadCaller
) -> RequestLookup:
    row = await repository.find(session, request_id)
    if row is None:
        return RequestLookup(request_id=request_id, found=False)
    return RequestLookup(found=True, **row)  # the row is the lookup's fields, request_id among them
