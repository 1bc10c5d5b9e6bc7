"""Named dependencies: ``StateDep``, ``SessionDep``, ``DatabaseDep``, ``SettingsDep``,
``BrokerDep``, ``MetricsDep`` and the callers by scope (``ReadCaller``, ``TradeCaller``, ``AdminCaller``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from raxx.common.asgi import request_id_of
from raxx.raptor.broker.base import Broker
from raxx.raptor.config import RaptorSettings
from raxx.raptor.database import RaptorDatabase
from raxx.raptor.errors import InsufficientScope, MissingToken
from raxx.raptor.logctx import actor_var, environment_var, token_var
from raxx.raptor.metrics import RaptorMetrics
from raxx.raptor.state import RaptorState
from raxx.raptor.token.service import Caller

# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a
# worker thread, a thread hop per dependency per request.

T = TypeVar("T")


def state_of(request: Request) -> RaptorState:
    return request.app.state.raptor  # type: ignore[no-any-return]


def _of_state(part: Callable[[RaptorState], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency on one part of the app's state."""

    async def dependency(request: Request) -> T:
        return part(state_of(request))

    return dependency


StateDep = Annotated[RaptorState, Depends(_of_state(lambda state: state))]
SettingsDep = Annotated[RaptorSettings, Depends(_of_state(lambda state: state.settings))]
BrokerDep = Annotated[Broker, Depends(_of_state(lambda state: state.broker))]
MetricsDep = Annotated[RaptorMetrics, Depends(_of_state(lambda state: state.metrics))]
#: The owner of this process's connections, for services whose statements are not one
#: transaction (an order recorded, then placed, then its outcome; a batched placement).
DatabaseDep = Annotated[RaptorDatabase, Depends(_of_state(lambda state: state.db))]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit on success, roll back on any error."""
    async with state_of(request).db.transaction() as session:
        yield session


# Function scope: the commit runs before the response is sent. FastAPI's default (request
# scope) runs it after, so a client could act on a "done" whose transaction was not yet (or
# never) committed: e.g. follow the login redirect before its session row existed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_request_id(request: Request) -> str:
    return request_id_of(request)


RequestIdDep = Annotated[str, Depends(get_request_id)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RaptorToken",
    description="`Authorization: Bearer rxp_<environment>_<token id>_<secret>`, issued for this environment",
)


#: What ``X-Raxx-Actor`` may hold: printable ASCII, no surrounding spaces, 1 to 200 characters.
ACTOR_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
ACTOR_MAX_LENGTH = 200


#: Where the entrance (``raptor.intake``) leaves the caller it verified before reading a body,
#: for the door that answers: a token is verified (and a refusal counted) once per request.
ADMITTED = "raxx.raptor.caller"
#: Where it leaves the body it read as JSON (``raxx.common.asgi.read_json``: ``NOT_JSON`` when it
#: does not parse), so the order fast path does not parse the same bytes again.
ADMITTED_JSON = "raxx.raptor.body_json"


async def authenticate(state: RaptorState, raw_token: str | None, actor: str | None, *, count: bool = True) -> Caller:
    """Verify a presented token for this environment; name the caller in the log context.

    The entrance (``intake``), the routed dependency (``get_caller``) and the order fast path
    (``order.fast``) all come through here, so a token is judged one way only.
    """
    environment_var.set(state.settings.environment)
    if raw_token is None:
        raise MissingToken("an Authorization: Bearer token is required")
    return acting(await state.tokens.verify(raw_token, count=count), actor)


def acting(caller: Caller, actor: str | None) -> Caller:
    """The caller acting for ``actor``, both named in the log context."""
    actor_var.set(actor)
    token_var.set(caller.token_id)
    return replace(caller, actor=actor)


async def caller_of(
    scope: Scope, state: RaptorState, raw_token: str | None, actor: str | None, *, count: bool = True
) -> Caller:
    """The caller the entrance admitted, else the token verified now (``authenticate``)."""
    admitted: Caller | None = scope.get(ADMITTED)
    if admitted is not None:
        return acting(admitted, actor)
    return await authenticate(state, raw_token, actor, count=count)


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    actor: Annotated[
        str | None,
        Header(
            alias="X-Raxx-Actor",
            max_length=ACTOR_MAX_LENGTH,
            pattern=ACTOR_PATTERN,
            description="the operator acting through the console; recorded with every mutation",
        ),
    ] = None,
) -> Caller:
    token = credentials.credentials if credentials is not None else None
    return await caller_of(request.scope, state_of(request), token, actor)


def require(scope: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def dependency(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if scope not in caller.scopes:
            raise InsufficientScope(f"this operation needs the {scope!r} scope", extra={"required_scope": scope})
        return caller

    return dependency


ReadCaller = Annotated[Caller, Depends(require("read"))]
TradeCaller = Annotated[Caller, Depends(require("trade"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
