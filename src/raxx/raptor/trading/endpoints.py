"""``/v1/trading``: read, halt (admin) and resume (admin) the trading switch."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.deps import AdminCaller, ReadCaller, RequestIdDep, SessionDep
from raxx.raptor.openapi import AUTH_ERRORS, BODY_ERRORS, error_responses
from raxx.raptor.trading import service
from raxx.raptor.trading.schemas import HaltRequest, TradingStateRead

router = APIRouter(prefix="/v1/trading", tags=["trading"])


@router.get(
    "",
    response_model=TradingStateRead,
    summary="Whether trading is halted, why and by whom",
    responses=error_responses(*AUTH_ERRORS),
)
async def get_trading(session: SessionDep, caller: ReadCaller) -> TradingStateRead:
    return await service.get_state(session)


@router.post(
    "/halt",
    response_model=TradingStateRead,
    summary="Halt trading: new orders are refused (cancels still work). Idempotent.",
    responses=error_responses(*BODY_ERRORS),
)
async def halt_trading(
    body: HaltRequest, session: SessionDep, caller: AdminCaller, request_id: RequestIdDep
) -> TradingStateRead:
    return await service.halt(session, caller=caller, request_id=request_id, reason=body.reason)


@router.post(
    "/resume",
    response_model=TradingStateRead,
    summary="Resume trading. Idempotent.",
    responses=error_responses(*AUTH_ERRORS),
)
async def resume_trading(session: SessionDep, caller: AdminCaller, request_id: RequestIdDep) -> TradingStateRead:
    return await service.resume(session, caller=caller, request_id=request_id)
