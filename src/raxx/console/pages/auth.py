"""Sign in and sign out."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.asgi import request_id_of
from raxx.common.clock import utcnow
from raxx.common.errors import TooManyRequests, Unauthorized
from raxx.common.logging import log_event
from raxx.common.storable import OneLineText
from raxx.console.audit.events import AuditContext
from raxx.console.audit.routes import AuditedRoute, audited
from raxx.console.auth import repository, service
from raxx.console.auth.models import User
from raxx.console.deps import DbDep, LoginDep, OptionalLoginDep, StateDep, client_ip, is_secure, user_agent
from raxx.console.pages.forms import (
    check_csrf,
    login_csrf_token,
    login_csrf_valid,
    new_login_nonce,
    safe_next,
)
from raxx.console.security import login_csrf_cookie_name, session_cookie_name, set_session_cookie
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
        sso_name=state.settings.oidc_display_name if state.oidc is not None else None,
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
    username: Annotated[OneLineText, Form(max_length=64)],
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
    if state.oidc is not None and not user.break_glass:
        log_event(log, "console.login.password_off", level=logging.WARNING, username=user.name)
        request.state.audit.set("denied", error="password_disabled: single sign-on is on; not a break-glass account")
        sso = state.settings.oidc_display_name
        off = f"Password sign-in is off: sign in with {sso}. Only break-glass accounts use a password."
        return await _login_page(request, state, status_code=403, username=username, next_path=next, error=off)
    token = await open_web_session(request, state, db, user)
    log_event(log, "console.login.ok", username=user.name, client_ip=client_ip(request))
    request.state.audit.identify(user.id, user.name)
    request.state.audit.set(
        "ok", user_id=str(user.id), method="password", auth_time=utcnow().isoformat(), break_glass=user.break_glass
    )
    if state.oidc is not None:
        await break_glass_used(request, state, user.name)
    response = RedirectResponse(safe_next(next) or f"/{state.registry.default}/", status_code=303)
    set_session_cookie(response, token, secure=secure)
    response.delete_cookie(login_csrf_cookie_name(secure), path="/")
    return response


async def open_web_session(
    request: Request,
    state: ConsoleState,
    db: AsyncSession,
    user: User,
    *,
    auth_method: str = "password",
    auth_time: datetime | None = None,
    id_token: str | None = None,
) -> str:
    """A new session for ``user`` signing in from this request (any method); returns the cookie token."""
    return await service.open_session(
        db,
        user,
        environment=state.registry.default,
        client_ip=client_ip(request),
        user_agent=user_agent(request),
        policy=state.login_policy,
        auth_method=auth_method,
        auth_time=auth_time,
        id_token=id_token,
    )


async def break_glass_used(request: Request, state: ConsoleState, user_name: str) -> None:
    """A break-glass password sign-in while single sign-on is on: someone must know.

    Recorded as its own audit event (``auth.break_glass``), logged at WARNING, and raised
    as the ``auth.break_glass`` alert (``raxx.common.alerts``), one per sign-in.
    """
    request_id = request_id_of(request)
    log_event(log, "console.break_glass.used", level=logging.WARNING, username=user_name, client_ip=client_ip(request))
    await state.audit.record(
        AuditContext(
            actor_name=user_name, request_id=request_id, client_ip=client_ip(request), user_agent=user_agent(request)
        ),
        "auth.break_glass",
        outcome="ok",
        target=user_name,
        params={"method": "password", "alert": "break-glass sign-in while single sign-on is configured"},
    )
    await state.alerts.raise_alert(
        "auth.break_glass",
        environment=None,
        summary=f"break-glass sign-in to the console as {user_name} from {client_ip(request)}",
        details={"user": user_name, "client_ip": client_ip(request), "request_id": request_id},
        dedup_key=f"auth.break_glass:{request_id}",
    )


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
    session = await repository.session_by_hash(db, login.session_hash)
    await service.end_session(db, login)
    log_event(log, "console.logout.ok", username=login.user_name)
    to = "/login"
    if state.oidc is not None and login.auth_method == "oidc":
        # The provider's session ends too, so "sign in" does not silently sign the same person in again.
        back = str(request.base_url).rstrip("/") + "/login"
        to = (
            await state.oidc.end_session_url(
                id_token=session.id_token if session else None, post_logout_redirect_uri=back
            )
            or to
        )
        request.state.audit.set(end_session=to != "/login")
    response = RedirectResponse(to, status_code=303)
    secure = is_secure(request, state)  # a __Host- cookie is only replaced by a Secure one
    response.delete_cookie(session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="strict")
    # The browser drops what this origin left behind: cookies, storage and cached pages.
    response.headers["clear-site-data"] = CLEAR_SITE_DATA
    return response
