"""Sign in and sign out."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from raxx.common.asgi import request_id_of
from raxx.common.errors import TooManyRequests, Unauthorized
from raxx.common.logging import log_event
from raxx.console.actions import Actor, record
from raxx.console.auth import service
from raxx.console.auth.service import hash_token
from raxx.console.deps import (
    DbDep,
    LoginDep,
    OptionalLoginDep,
    StateDep,
    client_ip,
    is_secure,
    user_agent,
    web_actor,
)
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

router = APIRouter(tags=["auth"])


def _anonymous(request: Request) -> Actor:
    """The actor of a request made before signing in."""
    return Actor(
        user_id=None,
        user_name=None,
        roles={},
        request_id=request_id_of(request),
        channel="web",
        client_ip=client_ip(request),
        user_agent=user_agent(request),
    )


log = logging.getLogger("raxx.console.auth")


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
        login_csrf_cookie_name(secure), nonce, httponly=True, samesite="lax", secure=secure, path="/", max_age=3600
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, state: StateDep, login: OptionalLoginDep, next: str | None = None) -> Response:
    if login is not None:
        return RedirectResponse(safe_next(next) or f"/{login.current_env}/", status_code=303)
    return await _login_page(request, state, next_path=next)


@router.post("/login", response_class=HTMLResponse)
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
        await record(
            state.journal,
            _anonymous(request),
            "csrf.failed",
            outcome="denied",
            target="POST /login",
            params={"username": username[:64]},
            http_status=403,
        )
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
        await record(
            state.journal,
            _anonymous(request),
            "auth.login_failed",
            outcome="denied",
            target=username[:64],
            params={"reason": exc.code},
            http_status=exc.status_code,
        )
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
    actor = Actor(
        user_id=user.id,
        user_name=user.name,
        roles={},
        request_id=request_id_of(request),
        channel="web",
        session_hash=hash_token(token),
        client_ip=client_ip(request),
        user_agent=user_agent(request),
    )
    await record(state.journal, actor, "auth.login", outcome="ok", environment=state.registry.default, target=user.name)
    response = RedirectResponse(safe_next(next) or f"/{state.registry.default}/", status_code=303)
    response.set_cookie(
        session_cookie_name(secure),
        token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=int(state.login_policy.session_lifetime.total_seconds()),
    )
    response.delete_cookie(login_csrf_cookie_name(secure), path="/")
    return response


@router.post("/logout")
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
    await record(state.journal, web_actor(request, login), "auth.logout", outcome="ok", target=login.user_name)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session_cookie_name(is_secure(request, state)), path="/")
    return response
