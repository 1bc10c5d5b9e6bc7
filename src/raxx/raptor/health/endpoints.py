"""``/healthz`` (alive), ``/readyz`` (database, migrations, broker), ``/v1/identity``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from raxx.common.contracts.service import Identity, Readiness
from raxx.raptor.deps import StateDep
from raxx.raptor.health import service

router = APIRouter(tags=["health"])


# The probes answer HEAD too (outside the OpenAPI document): uptime checkers often ask with
# it, and a 405 reads as "down".
@router.get("/healthz", summary="Liveness: 200 while the process serves")
@router.head("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.head("/readyz", include_in_schema=False)
@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: 200 only when the database answers and migrations are at head",
    responses={503: {"model": Readiness, "description": "not ready; reasons lists why"}},
)
async def readyz(state: StateDep) -> JSONResponse:
    readiness = await service.check_readiness(state)
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ready else 503)


@router.get(
    "/v1/identity",
    response_model=Identity,
    summary="Which environment, release and database this deployment is (no credentials needed)",
)
async def identity(state: StateDep) -> Identity:
    return await service.identity(state)
