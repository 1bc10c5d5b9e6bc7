"""The order path's hot cases as plain ASGI: ``POST /v1/orders`` (paper venue) and ``GET /v1/orders``.

Why this exists: with the whole paper submission in one database call, what was left per
order was FastAPI's request path (routing behind seven routers, the body model and the
token/scope/actor dependency chain, the request object, the exception-handler stack),
several times the minimal endpoint's CPU (``bench/README.md``, "Raptor order path").

The contract is the routed endpoints' in ``endpoints.py`` (they stay, documented in
OpenAPI). This layer answers only a request the routed endpoint would accept as is: a
bearer token this deployment verifies (``deps.authenticate``, the same check and cache)
with the scope the route needs, a well-formed ``X-Raxx-Actor`` if any, and for a submission
a JSON body of the plain shape that ``OrderCreate`` validates. Anything else (no token, a
refused one, a missing scope, a body that is not exactly that, a query it does not know, a
venue other than the paper one) is handed to the routed app with the body replayed, which
refuses it exactly as before. Past that point it calls the same service functions and
renders their refusals (halted, idempotency conflict, ...) with the app's own exception
handlers, so every answer has one implementation and one shape.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raxx.common.asgi import NOT_READ, bearer_token, read_body, read_json, replaying
from raxx.common.doors import render_refusal
from raxx.common.errors import RaxxError
from raxx.common.metrics import ROUTE_KEY
from raxx.raptor.broker.paper.venue import PaperBroker
from raxx.raptor.deps import ACTOR_MAX_LENGTH, ACTOR_PATTERN, ADMITTED_JSON, caller_of
from raxx.raptor.order import service, submission
from raxx.raptor.order.endpoints import DEFAULT_PAGE, JSON, MAX_PAGE, submitted_json
from raxx.raptor.order.repository import OrderFilter
from raxx.raptor.order.schemas import OrderCreate
from raxx.raptor.state import RaptorState
from raxx.raptor.token.service import Caller

PATH = "/v1/orders"
#: A submission is a few hundred bytes; anything much larger is not the plain shape.
MAX_BODY = 4096
_ACTOR = re.compile(ACTOR_PATTERN)
#: The fields a plain submission may carry and the JSON type each must have (decimals as
#: strings: a JSON number may be a float, which the routed endpoint judges).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "symbol": (str,),
    "side": (str,),
    "type": (str,),
    "quantity": (str,),
    "limit_price": (str, type(None)),
    "time_in_force": (str,),
    "client_order_id": (str, type(None)),
}
_REQUIRED = frozenset({"symbol", "side", "type", "quantity"})
_LIMIT_QUERY = re.compile(rb"limit=([1-9][0-9]{0,2})")


class OrderFastPath:
    """Serves a submission or a list when everything checks out; otherwise the routed app does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            if scope["method"] == "POST":
                await self._submit(scope, receive, send)
                return
            if scope["method"] == "GET" and await self._list(scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _submit(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: RaptorState = scope["app"].state.raptor
        headers = _plain_headers(scope)
        # A query is for the routed endpoint to refuse (it takes none); the token before the body.
        plain = headers is not None and headers.json_body and not scope["query_string"] and _fused_venue(state)
        caller = await _caller(scope, state, headers, "trade") if plain and headers is not None else None
        if caller is None:
            await self.app(scope, receive, send)
            return
        received, over = await read_body(receive, MAX_BODY)
        replay = replaying(received, receive)
        body = None if over else _plain_submission(received, scope.get(ADMITTED_JSON, NOT_READ))
        if body is None:
            await self.app(scope, replay, send)
            return
        scope[ROUTE_KEY] = PATH  # answered here: the metrics name the route the router would have
        try:
            submitted = await state.metrics.submission(
                submission.submit(state.db, state.broker, caller=caller, request_id=_request_id(scope), body=body)
            )
        except RaxxError as exc:  # ``BrokerUnavailable`` included
            await render_refusal(scope, replay, send, exc)
            return
        await submitted_json(submitted)(scope, replay, send)

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> bool:
        limit = _plain_limit(scope["query_string"])
        headers = _plain_headers(scope)
        if limit is None or headers is None:
            return False
        state: RaptorState = scope["app"].state.raptor
        if await _caller(scope, state, headers, "read") is None:
            return False
        scope[ROUTE_KEY] = PATH
        try:
            body = await service.list_json(state.db, OrderFilter(limit=limit))
        except RaxxError as exc:  # no connection in time: the routed endpoint's same 503
            await render_refusal(scope, receive, send, exc)
            return True
        await Response(body, media_type=JSON)(scope, receive, send)
        return True


class _Headers:
    __slots__ = ("actor", "json_body", "token")

    def __init__(self, token: str, actor: str | None, json_body: bool) -> None:
        self.token, self.actor, self.json_body = token, actor, json_body


def _plain_headers(scope: Scope) -> _Headers | None:
    """The bearer token, the actor and whether the body is declared JSON; None when any of
    them is absent, repeated or not what the routed dependencies would accept as is."""
    token: str | None = None
    actor: str | None = None
    content_type: bytes | None = None
    seen: set[bytes] = set()
    for name, value in scope["headers"]:
        if name in (b"authorization", b"x-raxx-actor", b"content-type"):
            if name in seen:
                return None
            seen.add(name)
            if name == b"authorization":
                token = bearer_token(value.decode("latin-1"))
                if token is None:
                    return None
            elif name == b"x-raxx-actor":
                actor = value.decode("latin-1")
                if len(actor) > ACTOR_MAX_LENGTH or not _ACTOR.fullmatch(actor):
                    return None
            else:
                content_type = value
    if token is None:
        return None
    return _Headers(token, actor, content_type is not None and content_type.lower() == b"application/json")


async def _caller(scope: Scope, state: RaptorState, headers: _Headers, scope_needed: str) -> Caller | None:
    """The verified caller (the entrance's, when it verified one) when the token is good here
    and carries the scope, else None (the routed dependency then refuses it, in the one shape)."""
    try:
        # A refusal is not recorded here: the routed dependency verifies the token again,
        # refuses it in the one shape and counts it, once per request.
        caller = await caller_of(scope, state, headers.token, headers.actor, count=False)
    except RaxxError:
        return None
    return caller if scope_needed in caller.scopes else None


def _fused_venue(state: RaptorState) -> bool:
    broker = state.broker
    return isinstance(broker, PaperBroker) and broker.places_in_raptor_transaction


def _plain_submission(messages: list[Message], admitted: Any) -> OrderCreate | None:
    """``OrderCreate`` from a body of exactly the plain shape (a JSON object of known fields,
    decimals as strings), validated the way the routed endpoint validates it; else None.
    ``admitted``: the body as the entrance parsed it (``NOT_READ``: parse it here)."""
    if messages[-1]["type"] != "http.request" or messages[-1].get("more_body", False):
        return None
    data = read_json(b"".join(m.get("body", b"") for m in messages)) if admitted is NOT_READ else admitted
    if not isinstance(data, dict) or not data.keys() >= _REQUIRED:
        return None
    for name, value in data.items():
        allowed = _FIELD_TYPES.get(name)
        if allowed is None or type(value) not in allowed:
            return None
    try:
        return OrderCreate.model_validate(data)
    except ValidationError:
        return None


def _plain_limit(query: bytes) -> int | None:
    """``limit`` of a query that holds nothing else (filters and cursors take the routed path)."""
    if not query:
        return DEFAULT_PAGE
    match = _LIMIT_QUERY.fullmatch(query)
    if match is None:
        return None
    limit = int(match.group(1))
    return limit if limit <= MAX_PAGE else None


def _request_id(scope: Scope) -> str:
    """Set by ``RequestIdMiddleware``, which runs before this layer."""
    return str(scope["state"]["request_id"])
