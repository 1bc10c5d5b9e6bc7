"""The JSON API's reads as plain ASGI: ``GET /api/{env}/orders[/{id}]``, ``positions``, ``account``, ``trading``.

Why this exists: scripts poll these reads, and the goal is that reading through the
console costs little more than reading Raptor directly (``bench/console_proxy.py``).
Routing, dependency resolution, request objects and the middleware stack cost more CPU
per request than the proxying itself, so the happy path of a read is served here, in
front of the whole app (:class:`~raxx.console.app.ConsoleApp` calls it first), on the
lean keep-alive client (``keepalive.py``).

The contract is the routed endpoints' in ``api.py`` (they stay, documented in OpenAPI):
this layer answers only when the token is valid, the user's role allows reading in that
environment and the backend's identity is verified and fresh. Anything else (no token,
a refused one, no role, an unknown environment, identity in doubt) falls through to the
routed app, untouched, which renders and records the refusal exactly as for every other
route. Raptor's own refusals and transport failures are rendered here with the same
helpers (``trading.refusals``, ``errors.json_error``), in the one error shape. Being in
front of the middleware, it applies what they would: the request id
(``request_id_of_scope``, echoed as ``X-Request-ID``) and the security headers
(``with_security_headers``), in the same order.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from starlette.types import Message, Scope, Send

from raxx.common.asgi import request_id_of_scope
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.console.apitoken.service import InvalidApiToken
from raxx.console.auth.roles import can
from raxx.console.errors import json_error, json_internal_error
from raxx.console.raptor_client import CallContext, RaptorResponse
from raxx.console.security import with_security_headers
from raxx.console.state import ConsoleState
from raxx.console.trading.refusals import refusal_from

log = logging.getLogger("raxx.console.errors")

_READ_PATH = re.compile(
    r"^/api/([a-z][a-z0-9-]{1,30})/(orders(?:/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})?|positions|account|trading)$"
)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token if scheme.lower() == "bearer" and token else None
    return None


class ApiReadFastPath:
    """Serves a read when every check passes; otherwise says so and leaves the request untouched."""

    def __init__(self, app_state: Any) -> None:
        self._app_state = app_state  # the app's ``state``: ``console`` appears once the lifespan ran

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Whether this request was a read and is now answered; False hands it to the routed app."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        match = _READ_PATH.match(scope["path"])
        state: ConsoleState | None = getattr(self._app_state, "console", None)
        if match is None or state is None:
            return False
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _response_headers(message.get("headers", []), scope, request_id)
            await send(message)

        request_id = request_id_of_scope(scope)
        try:
            return await self._serve(scope, send_with_headers, state, match.group(1), match.group(2), request_id)
        except Exception as exc:  # what the app's last-resort handler answers, with our headers
            if started:
                raise
            log_event(
                log,
                "console.request.crashed",
                level=logging.ERROR,
                path=scope["path"],
                request_id=request_id,
                error=type(exc).__name__,
            )
            await json_internal_error(request_id)(scope, _no_body, send_with_headers)
            return True

    async def _serve(
        self, scope: Scope, send: Send, state: ConsoleState, env: str, resource: str, request_id: str
    ) -> bool:
        token = _bearer(scope)
        if env not in state.registry or token is None:
            return False
        try:
            owner = await state.api_tokens.verify(token)
        except InvalidApiToken:
            return False
        client = state.clients[env]
        if not can(owner.roles, env, "read") or not client.verified_fresh():
            return False
        ctx = CallContext(request_id=request_id, actor=f"{owner.user_name} (api)")
        query = scope["query_string"].decode("latin-1") if resource == "orders" else ""
        try:
            raw = await client.read("v1/" + resource, ctx, query=query or None)
        except RaxxError as exc:
            await json_error(exc, request_id)(scope, _no_body, send)
            return True
        if raw.ok:
            await _send_json(send, raw.status, raw.content)
            return True
        try:
            body = orjson.loads(raw.content)
        except orjson.JSONDecodeError:
            body = None
        refusal = refusal_from(client.spec, RaptorResponse(raw.status, body, raw.request_id, raw.latency_ms))
        await json_error(refusal, request_id)(scope, _no_body, send)
        return True


def _response_headers(headers: list[tuple[bytes, bytes]], scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
    """What the middleware would add, in their order: security headers, then the request id."""
    return [*with_security_headers(headers, scope), (b"x-request-id", request_id.encode())]


async def _send_json(send: Send, status: int, content: bytes) -> None:
    # The routed endpoint's ``Response(content, media_type=JSON)`` sets these two, in this order.
    headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}
