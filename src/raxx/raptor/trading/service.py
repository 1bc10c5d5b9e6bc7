"""Halt and resume. The switch lives in the database, so it survives restarts and holds for
every process of the deployment."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.raptor.errors import TradingHalted
from raxx.raptor.logctx import raptor_event
from raxx.raptor.requestlog import repository as requests
from raxx.raptor.token.service import Caller
from raxx.raptor.trading import repository
from raxx.raptor.trading.schemas import TradingStateRead
from raxx.raptor.wire import wire_time

log = logging.getLogger("raxx.raptor.trading")


def _read(row: RowMapping) -> TradingStateRead:
    return TradingStateRead.model_validate(dict(row))


async def get_state(session: AsyncSession) -> TradingStateRead:
    return _read(await repository.current(session))


async def halt(session: AsyncSession, *, caller: Caller, request_id: str, reason: str) -> TradingStateRead:
    """Stop new orders. Halting a halted system changes nothing: the first reason and halter stay."""
    return await _switch(session, caller=caller, request_id=request_id, halt=True, reason=reason.strip())


async def resume(session: AsyncSession, *, caller: Caller, request_id: str) -> TradingStateRead:
    return await _switch(session, caller=caller, request_id=request_id, halt=False, reason=None)


async def _switch(
    session: AsyncSession, *, caller: Caller, request_id: str, halt: bool, reason: str | None
) -> TradingStateRead:
    """Halt or resume: flip the switch (with its event) unless it is already so; record the
    request either way."""
    action = "halt" if halt else "resume"
    state = await repository.current(session, for_update=True)
    if state["halted"] != halt:
        state = await repository.switch(
            session, halted=halt, reason=reason, actor=caller.actor, token_id=caller.token_id, request_id=request_id
        )
        await repository.append_event(
            session, action=action, reason=reason, actor=caller.actor, token_id=caller.token_id, request_id=request_id
        )
        logged: dict[str, Any] = {"reason": reason} if halt else {}  # a resume has no reason to log
        raptor_event(log, f"trading.{action}.ok", **logged)
    else:
        raptor_event(log, "trading.halt.already_halted" if halt else "trading.resume.not_halted")
    await requests.record(
        session,
        request_id=request_id,
        action=f"trading.{action}",
        target="trading",
        token_id=caller.token_id,
        actor=caller.actor,
    )
    return _read(state)


def halted_error(state: RowMapping) -> TradingHalted:
    """The 409 a new order gets while halted: the reason and who halted."""
    return TradingHalted(
        f"trading is halted: {state['reason']}",
        extra={
            "reason": state["reason"],
            "halted_by": state["actor"],
            "halted_by_token": state["token_id"],
            "halted_at": wire_time(state["changed_at"]),
        },
    )


async def refuse_if_halted(session: AsyncSession) -> None:
    state = await repository.current(session)
    if state["halted"]:
        raise halted_error(state)
