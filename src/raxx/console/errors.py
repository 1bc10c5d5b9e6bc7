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

from raxx.common.asgi import request_id_of, validation_details
from raxx.common.environments import ENV_NAME_RE
from raxx.common.errors import RaxxError, error_body
from raxx.common.logging import log_event
from raxx.console.actions import Actor, record
from raxx.console.deps import LoginRequired, client_ip, user_agent
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
    return request.url.path.startswith("/api/")


async def _render_error(
    request: Request, status: int, code: str, detail: object, extra: dict[str, Any] | None = None
) -> Response:
    state: ConsoleState = request.app.state.console
    if _wants_json(request):
        return _json_response(status, code, detail, extra or {}, request_id_of(request))
    from raxx.console.templating import render  # import here: templating imports deps

    env_name = request.url.path.strip("/").split("/", 1)[0]
    spec = state.registry.get(env_name, None)
    unknown = (
        env_name if (spec is None and ENV_NAME_RE.match(env_name or "-") and code == "unknown_environment") else None
    )
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


def _json_response(status: int, code: str, detail: object, extra: dict[str, Any], request_id: str) -> JSONResponse:
    body = error_body(code, detail, **extra)
    body["request_id"] = request_id
    headers = {"WWW-Authenticate": 'Bearer realm="raxx-console"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def json_error(exc: RaxxError, request_id: str) -> JSONResponse:
    """A refusal in the JSON API's one shape (for code outside the routed app: ``api_fast``)."""
    return _json_response(exc.status_code, exc.code, exc.detail, _public_extra(exc), request_id)


def _flatten(detail: object) -> str:
    if isinstance(detail, list):
        return "; ".join(
            f"{d.get('field') or 'input'}: {d.get('message')}" if isinstance(d, dict) else str(d) for d in detail
        )
    return str(detail)


#: Refusals that are security events: every one is recorded in the journal (the audit trail).
RECORDED_REFUSALS = {
    "permission_denied": "permission.denied",
    "csrf_failed": "csrf.failed",
    "environment_mismatch": "environment.mismatch",
    "confirmation_invalid": "confirmation.refused",
}
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
)


def _public_extra(exc: RaxxError) -> dict[str, Any]:
    return {k: exc.extra[k] for k in _PUBLIC_EXTRA if k in exc.extra}


def actor_of(request: Request) -> Actor | None:
    """The request's actor: set by the web or API dependencies, or rebuilt from the login."""
    actor = getattr(request.state, "actor", None)
    if isinstance(actor, Actor):
        return actor
    login = getattr(request.state, "login", None)
    if login is None:
        return None
    return Actor(
        user_id=login.user_id,
        user_name=login.user_name,
        roles=login.roles,
        request_id=request_id_of(request),
        channel="api" if _wants_json(request) else "web",
        session_hash=login.session_hash,
        client_ip=client_ip(request),
        user_agent=user_agent(request),
    )


async def _record_refusal(request: Request, exc: RaxxError) -> None:
    state: ConsoleState = request.app.state.console
    actor = actor_of(request)
    await record(
        state.journal,
        actor,
        RECORDED_REFUSALS[exc.code],
        outcome="denied",
        environment=exc.extra.get("environment") or exc.extra.get("url_env") or _path_env(request, state),
        target=exc.extra.get("action") or f"{request.method} {request.url.path}",
        params={"path": request.url.path, "method": request.method, "channel": actor.channel if actor else None},
        http_status=exc.status_code,
        error=f"{exc.code}: {exc.detail}",
    )


def _path_env(request: Request, state: ConsoleState) -> str | None:
    parts = request.url.path.strip("/").split("/")
    candidate = parts[1] if parts and parts[0] == "api" and len(parts) > 1 else parts[0]
    return candidate if candidate in state.registry else None


def install_console_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request) or request.method != "GET":
            return await _render_error(request, 401, exc.code, exc.detail)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(RaxxError)
    async def _raxx(request: Request, exc: RaxxError) -> Response:
        if exc.code in RECORDED_REFUSALS:
            await _record_refusal(request, exc)
        return await _render_error(request, exc.status_code, exc.code, exc.detail, _public_extra(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return await _render_error(request, 422, "validation_error", validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return await _render_error(request, exc.status_code, code, str(exc.detail))

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
            return await _render_error(
                request, 500, "internal_error", "An unexpected error occurred; nothing more was done."
            )
        except Exception:
            return JSONResponse(
                error_body("internal_error", "unexpected error", request_id=request_id_of(request)), 500
            )
