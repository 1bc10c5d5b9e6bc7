"""How long one request may wait on a remote broker in all: ``RAPTOR_BROKER_DEADLINE_S``.

Heroku's router gives up on a request after 30 s and answers the caller itself (503 H12,
``raxx.common.router.ROUTER_TIMEOUT_S``): the caller then learns nothing, not even the id
of the order Raptor recorded. One Alpaca call is bounded (a connect and an answer timeout,
the account's request budget), but a request can make several: a submission that times
out is looked up by its client order id and may be sent once more, reads are retried, a
cancel waits for the final state, and ``DELETE /v1/orders`` cancels every open order one
by one. Each bound holds and their sum still passes 30 s.

So every request carries a deadline (``BrokerDeadline``, an ASGI middleware in front of
both doors), and a remote broker runs each call within it (``within_deadline``): past it,
the call is cut and ends as ``BrokerUnavailable``, which every caller already handles (an
order stays recorded as pending for the sync pass, a cancel leaves the order unchanged,
``DELETE /v1/orders`` lists the order as not canceled). Work outside a request (the sync
pass, start-up) has no deadline: only its per-call timeouts. (A task created during a request
copies the request's context, deadline included: start long-lived work in the lifespan.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.raptor.broker.base import BrokerUnavailable


@dataclass(frozen=True, slots=True)
class Deadline:
    at: float  #: on the event loop's clock (``loop.time()``)
    seconds: float  #: what the request was given, for the messages


_deadline: ContextVar[Deadline | None] = ContextVar("raptor_broker_deadline", default=None)


class BrokerDeadline:
    """Pure ASGI: gives every HTTP request ``seconds`` to wait on the broker, from its arrival."""

    def __init__(self, app: ASGIApp, *, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with request_deadline(self.seconds):
            await self.app(scope, receive, send)


@contextmanager
def request_deadline(seconds: float) -> Iterator[Deadline]:
    """Within this block, broker calls end ``seconds`` from now (the middleware's, and tests')."""
    deadline = Deadline(asyncio.get_running_loop().time() + seconds, seconds)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


@asynccontextmanager
async def within_deadline(*, cut: str, not_sent: str) -> AsyncIterator[None]:
    """Run the block until the request's deadline (no limit outside a request).

    ``cut``: what is known when the block was cut mid-way (a submission may or may not have
    reached the venue); ``not_sent``: what is known when no time was left to start it."""
    deadline = _deadline.get()
    if deadline is None:
        yield
        return
    if asyncio.get_running_loop().time() >= deadline.at:
        raise BrokerUnavailable(
            f"the request's {deadline.seconds:g} s for the broker ran out before this call; {not_sent}"
        )
    cutoff = asyncio.timeout_at(deadline.at)
    try:
        async with cutoff:
            yield
    except TimeoutError:
        if not cutoff.expired():  # a timeout of the block's own, not the deadline: as it is
            raise
        raise BrokerUnavailable(
            f"the broker did not answer within the request's {deadline.seconds:g} s; {cut}"
        ) from None
