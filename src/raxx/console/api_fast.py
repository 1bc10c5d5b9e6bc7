"""The JSON API's reads as plain ASGI: ``GET /api/{env}/orders[/{id}]``, ``positions``, ``account``, ``trading``.

Why this exists: scripts poll these reads, and the goal is that reading through the
console costs little more than reading Raptor directly (``bench/console_proxy.py``).
Routing, dependency resolution and request objects cost more CPU per request than the
proxying itself, so the happy path of a read is served here, in front of routing (a door
of ``FAST_PATHS`` in ``console/app.py``; ``raxx.common.doors`` says where it sits).

The contract is the routed endpoints' in ``api.py`` (they stay, documented in OpenAPI):
this layer answers only when the token is valid, the user's role allows reading in that
environment and the backend's identity is verified and fresh. Anything else (no token,
a refused one, no role, an unknown environment, identity in doubt) is handed to the
routed app, untouched, which renders and records the refusal exactly as for every other
route. Raptor's own refusals and transport failures are rendered by the app's exception
handlers, as on the routed path; the app's middleware add the request id and the security
headers to both, and a crash here gets the app's one 500.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.asgi import bearer_token
from raxx.common.doors import render_refusal
from raxx.common.errors import RaxxError
from raxx.common.metrics import ROUTE_KEY
from raxx.console.apitoken.service import InvalidApiToken
from raxx.console.auth.roles import can
from raxx.console.raptor.client import CallContext
from raxx.console.raptor.refusals import refusal_from_raw
from raxx.console.state import ConsoleState

_READ_PATH = re.compile(
    r"^/api/([a-z][a-z0-9-]{1,30})/(orders(?:/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})?|positions|account|trading)$"
)
#: The routed endpoint's ``Response(content, media_type=JSON)`` sets these two, in this order.
_JSON = b"application/json"
#: The route template of each resource this layer answers (one order: ``_ORDER_ROUTE``).
_ROUTES = {r: f"/api/{{env}}/{r}" for r in ("orders", "positions", "account", "trading")}
_ORDER_ROUTE = "/api/{env}/orders/{order_id}"


def _bearer(scope: Scope) -> str | None:
    """The bearer token of the one ``Authorization`` header; None (routed: it refuses) else."""
    found = [value for name, value in scope["headers"] if name == b"authorization"]
    return bearer_token(found[0].decode("latin-1")) if len(found) == 1 else None


class ApiReadFastPath:
    """Serves a read when every check passes; otherwise the routed app does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _READ_PATH.match(scope["path"])
            if match is not None and await self._served(scope, receive, send, match.group(1), match.group(2)):
                return
        await self.app(scope, receive, send)

    async def _served(self, scope: Scope, receive: Receive, send: Send, env: str, resource: str) -> bool:
        state: ConsoleState | None = getattr(scope["app"].state, "console", None)
        token = _bearer(scope)
        if state is None or env not in state.registry or token is None:
            return False
        try:
            owner = await state.api_tokens.verify(token)
        except InvalidApiToken:
            return False
        client = state.clients[env]
        if not can(owner.roles, env, "read") or not client.verified_fresh():
            return False
        # Answered here from now on: the metrics name the route and environment routing would have.
        scope[ROUTE_KEY] = _ROUTES.get(resource) or _ORDER_ROUTE
        scope["path_params"] = {"env": env}
        ctx = CallContext(request_id=scope["state"]["request_id"], actor=f"{owner.user_name} (api)")
        query = scope["query_string"].decode("latin-1") if resource == "orders" else ""
        try:
            raw = await client.read("v1/" + resource, ctx, query=query or None)
        except RaxxError as exc:
            await render_refusal(scope, receive, send, exc)
            return True
        if raw.ok:
            headers = [(b"content-length", str(len(raw.content)).encode()), (b"content-type", _JSON)]
            await send({"type": "http.response.start", "status": raw.status, "headers": headers})
            await send({"type": "http.response.body", "body": raw.content})
            return True
        await render_refusal(scope, receive, send, refusal_from_raw(client.spec, raw))
        return True
