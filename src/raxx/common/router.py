"""What Heroku's router says about a request it forwards, read the one way that cannot be forged.

Its own module (not ``raxx.common.asgi``): the supervisor wraps every app in it, and
``asgi`` starts servers through the supervisor.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

#: How long Heroku's router waits for the first byte of an answer before it gives up and
#: answers the caller itself (503, H12): every bound on a request's own waiting stays under it.
ROUTER_TIMEOUT_S = 30.0


class BehindRouter:
    """What a router in front of every connection (Heroku's) says about the request: the
    scheme from ``X-Forwarded-Proto`` (``http`` or ``https``), and as the client the **last**
    ``X-Forwarded-For`` address, the one the router appended for the connection it took.
    Entries before it are whatever the client sent, so they are never the client's address
    (the audit trail's ``client_ip``, the per-address sign-in throttle). uvicorn's own
    ``ProxyHeadersMiddleware`` trusting every hop (``forwarded_allow_ips="*"``) takes the
    first entry instead.

    The router also takes plain http (port 80) and says so (``X-Forwarded-Proto: http``):
    such a request is answered ``308`` to the same URL over https and never reaches the app,
    so no sign-in form, session or token is served or acted on in clear text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            proto: str | None = None
            host = ""
            forwarded_for: list[str] = []
            for name, value in scope["headers"]:
                if name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
                elif name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                elif name == b"host":
                    host = value.decode("latin-1")
            if proto == "http" and scope["type"] == "http" and host:
                query = scope.get("query_string", b"")
                target = scope.get("raw_path") or scope["path"].encode()
                location = b"https://" + host.encode("latin-1") + target + (b"?" + query if query else b"")
                headers = [(b"location", location), (b"content-length", b"0")]
                await send({"type": "http.response.start", "status": 308, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
            scope = dict(scope)
            if proto in ("http", "https"):
                scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
            last = ",".join(forwarded_for).rpartition(",")[2].strip()
            if last:
                scope["client"] = (last, 0)
        await self.app(scope, receive, send)
