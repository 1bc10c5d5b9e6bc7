"""Sign in and sign out."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from raxx.common.errors import TooManyRequests, Unauthorized
from raxx.common.logging import log_event
from raxx.console.audit.routes import AuditedRoute, audited
from raxx.console.auth import service
from raxx.console.deps import DbDep, LoginDep, OptionalLoginDep, StateDep, client_ip, is_secure, user_agent
from raxx.console.pages.forms import (
    check_csrf,
    login_csrf_token,
    login_csrf_valid,
    new_login_nonce,
    safe_next,
)
from raxx.console.security import login_csrf_cookie_name, session_cookie_name
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["auth"], route_class=AuditedRoute)
log = logging.getLogger("raxx.console.auth")
CLEAR_SITE_DATA = '"cache", "cookies", "storage"'


async def _login_page(
    request: Request,
    state: ConsoleState,
    *,
    error: str | None = None,
    status_code: int = 200,
    username: str | None = None,
    next_path: str | None = None,
) -> HTMLResponse:
    nonce = new_login_nonce()
    response = await render(
        request,
        state,
        "login.html",
        env=None,
        login=None,
        status_code=status_code,
        error=error,
        username=username,
        next=safe_next(next_path),
        login_csrf=login_csrf_token(state.settings.secret_key, nonce),
        default_label=state.registry[state.registry.default].label,
    )
    secure = is_secure(request, state)
    response.set_cookie(
        login_csrf_cookie_name(secure), nonce, httponly=True, samesite="strict", secure=secure, path="/", max_age=3600
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep, login: OptionalLoginDep, next: str | None = None) -> Response:
    if login is not None:
        return RedirectResponse(safe_next(next) or f"/{login.current_env}/", status_code=303)
    return await _login_page(request, state, next_path=next)


@router.post("/login", response_class=HTMLResponse)
@audited("auth.login", env_field=None, target_field="username", actor_field="username")
async def login_submit(
    request: Request,
    state: StateDep,
    db: DbDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    secure = is_secure(request, state)
    if not login_csrf_valid(state.settings.secret_key, request.cookies.get(login_csrf_cookie_name(secure)), csrf_token):
        log_event(log, "console.csrf.failed", level=logging.WARNING, path="/login", client_ip=client_ip(request))
        request.state.audit.set("denied", error="csrf_failed: the sign-in form's token did not match")
        return await _login_page(
            request,
            state,
            status_code=403,
            username=username,
            next_path=next,
            error="The sign-in form expired. Nothing was changed; please sign in again.",
        )
    try:
        user = await service.authenticate(
            db, username=username, password=password, client_ip=client_ip(request), policy=state.login_policy
        )
    except (Unauthorized, TooManyRequests) as exc:
        log_event(
            log,
            "console.login.failed",
            level=logging.WARNING,
            username=username[:64],
            client_ip=client_ip(request),
            reason=exc.code,
        )
        await db.commit()  # the failed attempt must count even though we answer with an error
        request.state.audit.set("denied", error=f"{exc.code}: {exc.detail}")
        return await _login_page(
            request, state, error=str(exc.detail), status_code=exc.status_code, username=username, next_path=next
        )
    token = await service.open_session(
        db,
        user,
        environment=state.registry.default,
        client_ip=client_ip(request),
        user_agent=user_agent(request),
        policy=state.login_policy,
    )
    log_event(log, "console.login.ok", username=user.name, client_ip=client_ip(request))
    request.state.audit.identify(user.id, user.name)
    request.state.audit.set("ok", user_id=str(user.id))
    response = RedirectResponse(safe_next(next) or f"/{state.registry.default}/", status_code=303)
    # A browser-session cookie (no Max-Age/Expires): closing the browser forgets it, and
    # the server ends the session anyway after the idle or absolute timeout (LoginPolicy).
    # Strict: no request from another site (a link in a chat, a form elsewhere) carries it.
    response.set_cookie(session_cookie_name(secure), token, httponly=True, samesite="strict", secure=secure, path="/")
    response.delete_cookie(login_csrf_cookie_name(secure), path="/")
    return response


@router.post("/logout")
@audited("auth.logout", env_field=None)
async def logout(
    request: Request,
    state: StateDep,
    db: DbDep,
    login: LoginDep,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    check_csrf(request, login, csrf_token)
    await service.end_session(db, login)
    log_event(log, "console.logout.ok", username=login.user_name)
    response = RedirectResponse("/login", status_code=303)
    secure = is_secure(request, state)  # a __Host- cookie is only replaced by a Secure one
    response.delete_cookie(session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="strict")
    # The browser drops what this origin left behind: cookies, storage and cached pages.
    response.headers["clear-site-data"] = CLEAR_SITE_DATA
    return response
