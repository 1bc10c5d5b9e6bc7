"""The JSON API's reads as plain ASGI: ``GET /api/{env}/orders[/{id}]``, ``positions``, ``account``, ``trading``.

Why this exists: scripts poll these reads, and the goal is that reading through the
console costs little more than reading Raptor directly (``bench/console_proxy.py``).
Routing, dependency resolution and request objects cost more CPU per request than the
proxying itself, so the happy path of a read is served here, in front of the routed app.

The contract is the routed endpoints' in ``api.py`` (they stay, documented in OpenAPI):
this layer answers only when the token is valid, the user's role allows reading in that
environment and the backend's identity is verified and fresh. Anything else (no token,
a refused one, no role, an unknown environment, identity in doubt) falls through to the
routed app, which renders and records the refusal exactly as for every other route.
Raptor's own refusals and transport failures are rendered here with the same helpers
(``trading.refusals``, ``errors.json_error``), in the one error shape.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.asgi import new_request_id
from raxx.common.errors import RaxxError
from raxx.console.apitoken.service import InvalidApiToken
from raxx.console.auth.roles import can
from raxx.console.errors import json_error
from raxx.console.raptor_client import CallContext, RaptorResponse
from raxx.console.state import ConsoleState
from raxx.console.trading.refusals import refusal_from

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
    """Serves a read when every check passes; otherwise hands the request to the routed app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _READ_PATH.match(scope["path"])
            if match is not None and await self._serve(scope, send, match.group(1), match.group(2)):
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, send: Send, env: str, resource: str) -> bool:
        state: ConsoleState = scope["app"].state.console
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
        request_id = scope.get("state", {}).get("request_id") or new_request_id()
        ctx = CallContext(request_id=request_id, actor=f"{owner.user_name} (api)")
        query = scope["query_string"].decode("latin-1") if resource == "orders" else ""
        try:
            raw = await client.send("GET", "v1/" + resource, ctx, query=query or None)
        except RaxxError as exc:
            await json_error(exc, request_id)(scope, _no_body, send)
            return True
        if raw.ok:
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw.content)).encode())]
            await send({"type": "http.response.start", "status": raw.status, "headers": headers})
            await send({"type": "http.response.body", "body": raw.content})
            return True
        try:
            body = orjson.loads(raw.content)
        except orjson.JSONDecodeError:
            body = None
        refusal = refusal_from(client.spec, RaptorResponse(raw.status, body, raw.request_id, raw.latency_ms))
        await json_error(refusal, request_id)(scope, _no_body, send)
        return True


async def _no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}
