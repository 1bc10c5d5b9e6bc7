"""Refusals rendered for people (HTML with the banner) or scripts (JSON under ``/api``).

Every error page carries the banner of the environment in its URL, or an "unknown
environment" banner, so even a 404 says where you are.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from raxx.common.asgi import install_database_handlers, request_id_of, validation_details
from raxx.common.doors import walk_routes
from raxx.common.errors import RaxxError, error_body
from raxx.common.logging import log_event
from raxx.common.metrics import METRICS_PATH
from raxx.console.deps import LoginRequired
from raxx.console.raptor.refusals import RaptorRefusal
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.errors")

_TITLES = {
    400: "The request was refused",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Refused by the backend",
    422: "Some fields need attention",
    429: "Slow down",
    502: "Backend unavailable",
    503: "Unavailable",
    504: "Backend timed out",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == METRICS_PATH  # scripts and Prometheus


async def _render_error(
    request: Request, status: int, code: str, detail: object, extra: dict[str, Any] | None = None
) -> Response:
    state: ConsoleState = request.app.state.console
    if _wants_json(request):
        return _json_response(status, code, detail, extra or {}, request_id_of(request))
    from raxx.console.templating import render  # import here: templating imports deps

    # The path as routing saw it (decoded): request.url re-quotes some characters ('#', '?').
    env_name = request.scope["path"].strip("/").split("/", 1)[0]
    spec = state.registry.get(env_name, None)
    # A first segment that is neither an environment nor one of the console's own pages is an
    # environment name nobody registered, whatever its case or characters: say so, never "none".
    unknown = env_name if spec is None and env_name and env_name not in console_segments(request.app) else None
    login = getattr(request.state, "login", None)
    return await render(
        request,
        state,
        "error.html",
        env=spec,
        login=login,
        status_code=status,
        unknown_env=unknown,
        code=code,
        detail=detail if isinstance(detail, str) else _flatten(detail),
        status=status,
        title=_TITLES.get(status, "Error"),
    )


def console_segments(app: Any) -> frozenset[str]:
    """The first path segments of the console's own pages (``login``, ``compare``, ``static``,
    ...): every other first segment is where an environment's name goes."""
    cached: frozenset[str] | None = getattr(app.state, "console_segments", None)
    if cached is None:
        paths = (path for path, _ in walk_routes(app.routes))
        cached = frozenset(s for s in (p.strip("/").split("/", 1)[0] for p in paths) if not s.startswith("{"))
        app.state.console_segments = cached
    return cached


def _json_response(
    status: int,
    code: str,
    detail: object,
    extra: dict[str, Any],
    request_id: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(code, detail, **extra)
    body["request_id"] = request_id
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="raxx-console"'}
    return JSONResponse(body, status_code=status, headers=headers)


INTERNAL_ERROR_DETAIL = "An unexpected error occurred; nothing more was done."


def _flatten(detail: object) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{d.get('field') or 'input'}: {d.get('message')}" if isinstance(d, dict) else str(d) for d in detail
        )
    return str(detail)


#: Fields of a refusal's ``extra`` that are safe and useful to show (the JSON API returns them).
_PUBLIC_EXTRA = (
    "environment",
    "capability",
    "action",
    "reason",
    "halted_by",
    "halted_at",
    "status",
    "order_id",
    "raptor_status",
    "url_env",
    "form_env",
    "header",
    "max_bytes",
)


def _public_extra(exc: RaxxError) -> dict[str, Any]:
    return {k: exc.extra[k] for k in _PUBLIC_EXTRA if k in exc.extra}


def install_console_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request) or request.method != "GET":
            return await _render_error(request, 401, exc.code, exc.detail)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(RaxxError)
    async def _raxx(request: Request, exc: RaxxError) -> Response:
        if exc.status_code == 403:
            log_event(log, "console.permission.denied", level=logging.WARNING, path=request.url.path, code=exc.code)
        if exc.status_code == 403 or exc.code == "backend_misconfigured":
            from raxx.console.audit.routes import record_refusal  # import here: routes imports state

            await record_refusal(request, exc.code, exc.detail, exc.status_code)
        detail = exc.fields if isinstance(exc, RaptorRefusal) and exc.fields and _wants_json(request) else exc.detail
        response = await _render_error(request, exc.status_code, exc.code, detail, _public_extra(exc))
        response.headers.update(exc.headers())  # Retry-After on a 503
        return response

    install_database_handlers(app, _raxx)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return await _render_error(request, 422, "validation_error", validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = await _render_error(request, exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # a 405's Allow: what the path does take
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log_event(
            log,
            "console.request.crashed",
            level=logging.ERROR,
            path=request.url.path,
            request_id=request_id_of(request),
            error=type(exc).__name__,
        )
        try:
            return await _render_error(request, 500, "internal_error", INTERNAL_ERROR_DETAIL)
        except Exception:
            return JSONResponse(
                error_body("internal_error", "unexpected error", request_id=request_id_of(request)), 500
            )
