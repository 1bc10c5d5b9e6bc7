"""Sign-in through the identity provider (OpenID Connect), and the step-up round trip.

``GET /login/oidc`` starts a sign-in; ``GET /login/oidc/callback`` is where the provider
sends the browser back (for a sign-in or a step-up); ``GET /login/oidc/resume/{ref}``
shows the confirmation page of the action a step-up interrupted, with its parameters.
Every callback outcome is one audit event (``auth.login`` or ``auth.stepup``, method
``oidc``), a refusal with the exact reason.
"""

from __future__ import annotations

import html
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from raxx.common.asgi import request_id_of
from raxx.common.clock import utcnow
from raxx.common.errors import NotFound
from raxx.common.logging import log_event
from raxx.common.storable import StorableText
from raxx.console.audit.events import AuditContext, Outcome
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth import repository, sso
from raxx.console.auth.oidc import IdClaims, OidcRefused
from raxx.console.deps import DbDep, LoginDep, StateDep, client_ip, is_secure, user_agent
from raxx.console.pages.auth import open_web_session
from raxx.console.pages.forms import safe_next
from raxx.console.pages.guard import resume_page
from raxx.console.pages.provider import oidc_client, provider_redirect, recent_auth_age, redirect_uri
from raxx.console.security import oidc_state_cookie_name, set_session_cookie
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["auth"], route_class=AuditedRoute)
log = logging.getLogger("raxx.console.auth")


@router.get("/login/oidc")
async def oidc_start(request: Request, state: StateDep, db: DbDep, next: str | None = None) -> Response:
    oidc_client(state)
    flow = await sso.start_flow(db, purpose="login", next_path=safe_next(next))
    return await provider_redirect(request, state, flow, max_age=None)


@router.get("/login/oidc/callback", response_class=HTMLResponse)
async def oidc_callback(
    request: Request,
    state: StateDep,
    db: DbDep,
    code: Annotated[StorableText, Query(max_length=2048)] = "",
    state_param: Annotated[StorableText, Query(alias="state", max_length=256)] = "",
    error: Annotated[str, Query(max_length=256)] = "",
    error_description: Annotated[str, Query(max_length=1024)] = "",
) -> Response:
    client = oidc_client(state)
    secure = is_secure(request, state)
    attempt = _Attempt()
    try:
        flow = await sso.take_flow(
            db, state=state_param, cookie_state=request.cookies.get(oidc_state_cookie_name(secure))
        )
        attempt.purpose, attempt.session_hash = flow.purpose, flow.session_hash
        if error:
            raise OidcRefused("provider_error", f"({error}: {error_description[:200]})")
        raw = await client.exchange(
            code=code, code_verifier=flow.code_verifier, redirect_uri=redirect_uri(request, state)
        )
        attempt.claims = claims = await client.verify(raw, now=utcnow())
        await sso.check_nonce(db, flow, claims)
        user = await sso.sync_user(db, claims, role_map=state.settings.oidc_role_map, environments=list(state.registry))
        if flow.purpose == "stepup":
            await sso.complete_step_up(db, flow, claims, user, max_age=recent_auth_age(state))
            await _record(request, state, attempt, "ok")
            response: Response = continue_to(f"/login/oidc/resume/{flow.state_hash}")
        else:
            token = await open_web_session(
                request, state, db, user, auth_method="oidc", auth_time=claims.auth_time, id_token=raw
            )
            await _record(request, state, attempt, "ok", user_id=str(user.id))
            response = continue_to(flow.next_path or f"/{state.registry.default}/")
            set_session_cookie(response, token, secure=secure)
        log_event(log, "console.oidc.ok", purpose=attempt.purpose, username=user.name, client_ip=client_ip(request))
    except OidcRefused as exc:
        await db.commit()  # the used flow, and roles taken away, stay so whatever is answered
        log_event(log, "console.oidc.refused", level=logging.WARNING, reason=exc.reason, client_ip=client_ip(request))
        await _record(request, state, attempt, "denied", error=f"{exc.code}: {exc.detail}", http_status=401)
        response = await render(
            request,
            state,
            "error.html",
            env=None,
            login=None,
            status_code=exc.status_code,
            code=exc.code,
            detail=str(exc.detail),
            status=exc.status_code,
            title="Sign-in refused",
            retry_sign_in=True,
        )
    response.delete_cookie(oidc_state_cookie_name(secure), path="/")
    return response


def continue_to(path: str) -> HTMLResponse:
    """Go on to ``path`` from a page of the console itself, not by a redirect.

    The callback is reached through the provider's cross-site redirect, and a browser
    treats the whole redirect chain as cross-site: the ``SameSite=Strict`` session cookie
    would not be sent to ``path``. A navigation started by this page is same-site.
    """
    target = html.escape(path, quote=True)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signed in</title></head>'
        f'<body><p id="continue">Signed in. <a href="{target}">Continue</a></p></body></html>'
    )
    return HTMLResponse(body)


class _Attempt:
    """What is known about a callback so far, for its audit event."""

    purpose = "login"
    claims: IdClaims | None = None
    #: The session a step-up belongs to (its cookie is not sent along a cross-site redirect).
    session_hash: str | None = None


async def _record(
    request: Request,
    state: ConsoleState,
    attempt: _Attempt,
    outcome: Outcome,
    *,
    error: str | None = None,
    http_status: int | None = None,
    **more: Any,
) -> None:
    claims = attempt.claims
    params: dict[str, Any] = {"method": "oidc", "purpose": attempt.purpose, **more}
    if claims is not None:
        params.update(auth_time=claims.auth_time.isoformat(), subject=claims.subject, groups=list(claims.groups))
    await state.audit.record(
        AuditContext(
            actor_name=claims.username if claims else None,
            session_hash=attempt.session_hash,
            request_id=request_id_of(request),
            client_ip=client_ip(request),
            user_agent=user_agent(request),
        ),
        "auth.stepup" if attempt.purpose == "stepup" else "auth.login",
        outcome=outcome,
        target=claims.username if claims else None,
        params=params,
        http_status=http_status,
        error=error,
    )


@router.get("/login/oidc/resume/{ref}", response_class=HTMLResponse)
async def oidc_resume(request: Request, state: StateDep, db: DbDep, login: LoginDep, ref: StorableText) -> Response:
    """The confirmation page of the action a step-up interrupted, its parameters intact. Never acts."""
    flow = await repository.flow_for_update(db, ref[:64])
    fresh = flow is not None and flow.used_at is not None and utcnow() - flow.used_at < sso.FLOW_TTL
    if not fresh or flow is None or flow.purpose != "stepup" or flow.session_hash != login.session_hash:
        raise NotFound("there is no interrupted action to come back to")
    return await resume_page(request, state, db, login, flow.resume or {}, post_to=flow.next_path or "/")
