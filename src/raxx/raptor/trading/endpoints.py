"""``/v1/trading``: read, halt (admin) and resume (admin) the trading switch."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.deps import AdminCaller, ReadCaller, RequestIdDep, SessionDep
from raxx.raptor.openapi import route
from raxx.raptor.trading import service
from raxx.raptor.trading.schemas import HaltRequest, NoFields, TradingStateRead

router = APIRouter(prefix="/v1/trading", tags=["trading"])


@route(router.get, "", "Whether trading is halted, why and by whom")
async def get_trading(session: SessionDep, caller: ReadCaller) -> TradingStateRead:
    return await service.get_state(session)


@route(router.post, "/halt", "Halt trading: new orders are refused (cancels still work). Idempotent.", body=True)
async def halt_trading(
    body: HaltRequest, session: SessionDep, caller: AdminCaller, request_id: RequestIdDep
) -> TradingStateRead:
    return await service.halt(session, caller=caller, request_id=request_id, reason=body.reason)


@route(router.post, "/resume", "Resume trading. Idempotent. It takes no body (or `{}`).", body=True)
async def resume_trading(
    session: SessionDep, caller: AdminCaller, request_id: RequestIdDep, body: NoFields | None = None
) -> TradingStateRead:
    return await service.resume(session, caller=caller, request_id=request_id)
