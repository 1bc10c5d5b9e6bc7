"""ASGI pieces shared by Raptor and the console: request ids and JSON error rendering."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raxx.common.db import (
    BUSY_EXCEPTIONS,
    UNREACHABLE_EXCEPTIONS,
    UNSTORABLE_TEXT_EXCEPTIONS,
    busy_error,
    is_database_busy,
    is_database_unreachable,
    is_unstorable_text,
    unreachable_error,
    unstorable_text_error,
)
from raxx.common.errors import InvalidJson, RaxxError, RepeatedHeader, error_body
from raxx.common.ids import uuid7
from raxx.common.logging import log_event

log = logging.getLogger("raxx.http")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    """Time-ordered (UUIDv7): Raptor's request log is keyed by it and written per order."""
    return uuid7().hex


def accept_request_id(value: str | None) -> str:
    """Keep a caller's request id if it is well-formed, else mint one (never trust raw input)."""
    if value and _REQUEST_ID_RE.match(value):
        return value
    return new_request_id()


def request_id_of_scope(scope: Scope, *, callers_for: frozenset[str] | None = None) -> str:
    """The request's id: the caller's ``X-Request-ID`` if well-formed (and, given
    ``callers_for``, the request's method is one of those), else a new one."""
    if callers_for is not None and scope["method"] not in callers_for:
        return new_request_id()
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return accept_request_id(value.decode("latin-1"))
    return new_request_id()


#: The methods that change nothing: where a caller's request id may name the request.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware overhead): sets and echoes ``X-Request-ID``.

    ``callers_for``: the methods whose caller's ``X-Request-ID`` is adopted (None: all). The
    console adopts it for reads only: a mutation's id is the key Raptor's request log keeps
    the action under (the first action of an id wins), so it is the console's to mint, new
    for every action, and the caller reads it back from the response's ``X-Request-ID``.
    """

    def __init__(self, app: ASGIApp, *, callers_for: frozenset[str] | None = None) -> None:
        self.app = app
        self.callers_for = callers_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of_scope(scope, callers_for=self.callers_for)
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


#: The media types a form arrives in (a page's POST).
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def media_type(request: Request) -> str:
    """The body's media type as HTTP compares it (``media_type_of``)."""
    return media_type_of(request.headers.get("content-type", ""))


def media_type_of(content_type: str) -> str:
    """A ``Content-Type`` as HTTP compares it (RFC 9110 8.3.1): parameters aside, in lower
    case. ``Application/JSON; charset=utf-8`` is ``application/json``."""
    return content_type.partition(";")[0].strip().lower()


def reads_as_json(media: str) -> bool:
    """A body read as JSON: declared ``application/json`` or a structured ``application/...+json``
    (RFC 6839). A body without a media type is not (FastAPI does not read one as JSON either)."""
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


#: The field error of an object key a JSON body gives twice (``repeated_json_keys``).
REPEATED_KEY = "given more than once in the body; send it once (which one counts is not guessed)"


#: Where an object key ends: its closing quote, then a colon. Counted over a body, it gives at
#: least the number of keys written (a string value holding ``\":`` adds one); never fewer.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')


class _NoJson:
    """The value of a body that is no JSON (or was not read as such)."""


#: ``read_json`` of a body that does not parse; ``repeated_json_keys``'s "parse it yourself".
NOT_JSON: Any = _NoJson()
NOT_READ: Any = _NoJson()


def read_json(body: bytes) -> Any:
    """``body`` parsed by orjson, or :data:`NOT_JSON` (its reader refuses it, in its own words)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return NOT_JSON


def repeated_json_keys(body: bytes, parsed: Any = NOT_READ) -> list[str]:
    """The object keys a JSON ``body`` gives more than once, in order (``{"quantity": "1",
    "quantity": "1000000"}``): a parser keeps one of them (orjson and ``json``: the last), so
    what the caller meant is not known, and it is refused rather than guessed, like a header
    or a query parameter given twice. Nothing when ``body`` is no JSON (its reader refuses it).

    On every order (Raptor's entrance), so the common case is cheap: the parsed objects' keys
    counted against the key ends in the text; only when they differ is the body read again to
    name the keys (``json`` with a pairs hook cost the order path 7 %, measured). ``parsed``:
    ``read_json(body)`` when the caller has it (Raptor's entrance hands it to the doors)."""
    if body.count(b'"') < 4:  # fewer than two strings: no two keys
        return []
    if parsed is NOT_READ:
        parsed = read_json(body)
    if parsed is NOT_JSON:
        return []
    if len(_KEY_END.findall(body)) == _keys_kept(parsed):
        return []  # every key written was kept: none was given twice
    return _keys_given_twice(body)


def _keys_kept(value: Any) -> int:
    """How many keys the parsed objects hold, nested ones included."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            count += len(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


def _keys_given_twice(body: bytes) -> list[str]:
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and key not in repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return []
    return repeated


async def read_body(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The request's messages up to the end of its body (or a disconnect), and whether more
    than ``limit`` bytes came: reading stops there, so no more than that is ever held."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False
        size += len(message.get("body", b""))
        if size > limit:
            return messages, True
        if not message.get("more_body", False):
            return messages, False


def replaying(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the next app the messages already read, then the live ones."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as ``HTTPBearer`` reads it
    (the scheme in any case, the token stripped: RFC 6750 allows several spaces); None when
    there is none. Raptor's and the console's one reading of it."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def single_header(request: Request, name: str) -> str | None:
    """A header HTTP does not define as a list (``Authorization``): its value, None when absent;
    :class:`RepeatedHeader` when it appears twice (which one counts is not for us to guess)."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise RepeatedHeader(name.lower().encode("latin-1"))
    return values[0] if values else None


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", None) or new_request_id())


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        details.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid")})
    return details


#: FastAPI's words for a body it could not read as JSON for another reason than its syntax
#: (bytes that are not UTF-8, nesting deeper than the parser goes).
BODY_PARSE_FAILED = "There was an error parsing the body"
#: A body that is not JSON, however the parser noticed: one answer (400 ``invalid_json``).
NOT_JSON = InvalidJson("the body is not valid JSON")


def install_json_error_handlers(app: FastAPI) -> None:
    """Render every refusal in the one shape; a bug is a 500 with the request id, no trace.
    A body that does not parse as JSON is one refusal (``NOT_JSON``) whichever way it failed."""

    @app.exception_handler(RaxxError)
    async def _raxx_error(request: Request, exc: RaxxError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers())

    install_database_handlers(app, _raxx_error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return await _raxx_error(request, NOT_JSON)
        return JSONResponse(error_body("validation_error", validation_details(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if (exc.status_code, exc.detail) == (400, BODY_PARSE_FAILED):
            return await _raxx_error(request, NOT_JSON)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, exc.detail), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request_id_of(request)
        log_event(
            log,
            "http.request.crashed",
            level=logging.ERROR,
            request_id=request_id,
            path=request.url.path,
            error=type(exc).__name__,
        )
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred", request_id=request_id), status_code=500
        )


def install_database_handlers(app: FastAPI, render: Callable[[Request, RaxxError], Awaitable[Response]]) -> None:
    """A database that cannot serve the request, wherever that surfaces, is answered with a
    503 and ``Retry-After`` (``render``: the app's own rendering of a refusal), logged as one
    line, never a traceback: ``DatabaseBusy`` when no connection could be had in time,
    ``DatabaseUnavailable`` when the database could not be reached or dropped the connection
    (a restart, a failover). Text the database would not store (NUL: input a field's check
    missed, ``raxx.common.storable``) is the 422 of bad input. Any other database error is
    raised on to the app's handling of a bug."""

    async def _database_refusal(request: Request, exc: Exception) -> Response:
        if is_database_busy(exc):
            return await render(request, busy_error(exc, "unnamed"))
        if is_database_unreachable(exc):
            return await render(request, unreachable_error(exc))
        if is_unstorable_text(exc):
            return await render(request, unstorable_text_error(exc))
        raise exc

    for cls in dict.fromkeys((*BUSY_EXCEPTIONS, *UNREACHABLE_EXCEPTIONS, *UNSTORABLE_TEXT_EXCEPTIONS)):
        app.add_exception_handler(cls, _database_refusal)


def server_options(*, host: str, port: int, proxy_headers: bool = False, graceful_s: int = 10) -> dict[str, Any]:
    """uvicorn's options for every Raxx server: uvloop and httptools (measured fastest here),
    each response written with one system call (``raxx.common.http_protocol``), no access
    log (we log events), our log config, forwarded headers trusted only behind a router
    (``proxy_headers``: ``raxx.common.router.BehindRouter``, applied by ``raxx.common.supervisor``), a bounded
    graceful shutdown."""
    from raxx.common.http_protocol import OneWriteHttpToolsProtocol

    return {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": OneWriteHttpToolsProtocol,
        "access_log": False,
        "log_config": None,
        "proxy_headers": proxy_headers,
        "timeout_graceful_shutdown": graceful_s,
    }


def run_server(app: Any, *, host: str, port: int, proxy_headers: bool = False, graceful_s: int = 10) -> None:
    """Serve ``app`` in this process (``server_options``), stopping as a dyno must
    (``raxx.common.supervisor``: no queued connection reset)."""
    from raxx.common.supervisor import run_single

    run_single(app, **server_options(host=host, port=port, proxy_headers=proxy_headers, graceful_s=graceful_s))
