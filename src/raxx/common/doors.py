"""The doors into an app: its fast paths, declared next to its routers.

A *fast path* is plain ASGI that answers the hottest requests itself, in front of routing,
when every check the routed endpoint would make passes, and hands every other request on,
untouched (a body already read is replayed), to the routed endpoint: its *fallback*. The
routed endpoint stays the contract (OpenAPI documents it, tests compare both answers).

Each app factory lists its fast paths in a ``FAST_PATHS`` table next to its ``ROUTERS``, and
builds a :class:`DoorsApp`, which puts them in the one place where both doors share
everything else::

    the app's middleware (add_middleware: request id, security headers, ...)
      -> FastAPI's own layers (last-resort 500, telemetry, body limit)
        -> the entrance, in order                  (both doors: what every request passes)
          -> the fast paths, in table order         (door 1)
            -> exception handlers -> routing        (door 2: the fallback)

So a middleware added to the app wraps both doors, and so does the last-resort 500 page; an
*entrance* layer (``DoorsApp(entrance=...)``) is a check both doors need before either reads
the request, with the app's own rendering of its refusals (``render_refusal``).
``docs/engineering.md`` shows each app's table as :func:`table_rows` renders it (a test
compares them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class FastPath:
    """One fast path: the ASGI layer, and each routed endpoint it stands in front of (its
    fallback) with the requests it answers itself, in words; it hands all others on."""

    answered_by: Callable[[ASGIApp], ASGIApp]
    serves: Mapping[Callable[..., Any], str]


class DoorsApp(FastAPI):
    """FastAPI with its fast paths (``fast_paths``) inside its middleware and error layers, in
    front of routing. Starlette puts the app's own middleware inside its last-resort error
    layer; here they wrap it, so a 500 also carries what they add (the request id, ...).
    Routes match as written: no redirect adds or removes a trailing slash."""

    def __init__(
        self, *, fast_paths: Sequence[FastPath] = (), entrance: Sequence[Middleware] = (), **kwargs: Any
    ) -> None:
        # No slash redirects: Starlette answers ``DELETE /v1/orders/`` (an order id left empty)
        # with a 307 to ``/v1/orders``, which a client that follows redirects sends again as
        # cancel-all; and it builds the Location from the Host header. An unknown path is a 404.
        kwargs.setdefault("redirect_slashes", False)
        super().__init__(**kwargs)
        self.fast_paths = tuple(fast_paths)
        self.entrance = tuple(entrance)

    def build_middleware_stack(self) -> ASGIApp:
        own = self.user_middleware
        # FastAPI's own stack with the entrance and the fast paths where it would put user middleware ...
        self.user_middleware = [*self.entrance, *(Middleware(fast_path.answered_by) for fast_path in self.fast_paths)]
        try:
            stack = super().build_middleware_stack()
        finally:
            self.user_middleware = own
        # ... inside the app's own middleware (the first added is the innermost, as in Starlette).
        for cls, args, kwargs in reversed(own):
            stack = cls(stack, *args, **kwargs)
        return stack


async def render_refusal(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer ``exc`` with the handler the app registered for it, as a routed request would be
    (a fast path runs in front of FastAPI's exception handling)."""
    handlers: dict[Any, Any] = scope["app"].exception_handlers
    handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)


async def through_entrance(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, admit: Callable[[], Awaitable[Receive]]
) -> None:
    """An entrance layer's step: ``admit()`` checks the request and returns the ``receive`` the
    doors read from (its body replayed); a refusal it raises is answered by the app's handler,
    a bug reaches the 500 page."""
    try:
        receive = await admit()
    except Exception as exc:
        if not is_refusal(scope, exc):
            raise
        await render_refusal(scope, receive, send, exc)
        return
    await app(scope, receive, send)


def is_refusal(scope: Scope, exc: Exception) -> bool:
    """Whether the app answers ``exc`` with a handler of its own (a refusal, a busy database)
    rather than its last-resort 500 page (a bug, which a layer lets through to that page)."""
    handlers = scope["app"].exception_handlers
    return any(cls in handlers for cls in type(exc).__mro__ if cls is not Exception)


def table_rows(app: DoorsApp) -> list[str]:
    """The app's doors as Markdown table rows: request -> answered by -> falls back to."""
    routes = {route.endpoint: (path, route) for path, route in walk_routes(app.routes) if isinstance(route, APIRoute)}
    rows = []
    for fast_path in app.fast_paths:
        for endpoint, when in fast_path.serves.items():
            path, route = routes[endpoint]  # a fallback that is not routed is a KeyError: the table is wrong
            request = f"`{' '.join(sorted(route.methods or ()))} {path}`"
            rows.append(f"| {request} | `{_name(fast_path.answered_by)}` {when} | `{_name(endpoint)}` |")
    return rows


def walk_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every route of an app with its full path, through included routers at any depth.

    FastAPI keeps an included router as one entry of ``app.routes``; the doors table and
    the tests that walk the route table need the routes themselves.
    """
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from walk_routes(included.routes, prefix + str(getattr(context, "prefix", "") or ""))
        else:
            yield prefix + str(getattr(route, "path", "")), route


def _name(obj: Any) -> str:
    return f"{obj.__module__.removeprefix('raxx.')}.{obj.__qualname__}"
