"""Halt and resume. The switch lives in the database, so it survives restarts and holds for
every process of the deployment."""

from __future__ import annotations

import logging

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.raptor.errors import TradingHalted
from raxx.raptor.logctx import raptor_event
from raxx.raptor.requestlog import repository as requests
from raxx.raptor.token.service import Caller
from raxx.raptor.trading import repository
from raxx.raptor.trading.schemas import TradingStateRead

log = logging.getLogger("raxx.raptor.trading")


def _read(row: RowMapping) -> TradingStateRead:
    return TradingStateRead.model_validate(dict(row))


async def get_state(session: AsyncSession) -> TradingStateRead:
    return _read(await repository.current(session))


async def halt(session: AsyncSession, *, caller: Caller, request_id: str, reason: str) -> TradingStateRead:
    """Stop new orders. Halting a halted system changes nothing: the first reason and halter stay."""
    state = await repository.current(session, for_update=True)
    if not state["halted"]:
        state = await repository.switch(
            session,
            halted=True,
            reason=reason.strip(),
            actor=caller.actor,
            token_id=caller.token_id,
            request_id=request_id,
        )
        await repository.append_event(
            session,
            action="halt",
            reason=reason.strip(),
            actor=caller.actor,
            token_id=caller.token_id,
            request_id=request_id,
        )
        raptor_event(log, "trading.halt.ok", reason=reason.strip())
    else:
        raptor_event(log, "trading.halt.already_halted")
    await requests.record(
        session,
        request_id=request_id,
        action="trading.halt",
        target="trading",
        token_id=caller.token_id,
        actor=caller.actor,
    )
    return _read(state)


async def resume(session: AsyncSession, *, caller: Caller, request_id: str) -> TradingStateRead:
    state = await repository.current(session, for_update=True)
    if state["halted"]:
        state = await repository.switch(
            session, halted=False, reason=None, actor=caller.actor, token_id=caller.token_id, request_id=request_id
        )
        await repository.append_event(
            session,
            action="resume",
            reason=None,
            actor=caller.actor,
            token_id=caller.token_id,
            request_id=request_id,
        )
        raptor_event(log, "trading.resume.ok")
    else:
        raptor_event(log, "trading.resume.not_halted")
    await requests.record(
        session,
        request_id=request_id,
        action="trading.resume",
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
            "halted_at": state["changed_at"].isoformat(),
        },
    )


async def refuse_if_halted(session: AsyncSession) -> None:
    state = await repository.current(session)
    if state["halted"]:
        raise halted_error(state)
