"""Sending the browser to the identity provider: for a sign-in, and for a step-up (guard)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from raxx.common.errors import NotFound
from raxx.console.auth import sso
from raxx.console.auth.oidc import OidcClient
from raxx.console.deps import is_secure
from raxx.console.security import oidc_state_cookie_name
from raxx.console.state import ConsoleState


def oidc_client(state: ConsoleState) -> OidcClient:
    if state.oidc is None:
        raise NotFound("single sign-on is not configured on this console (CONSOLE_OIDC_ISSUER)")
    return state.oidc


def redirect_uri(request: Request, state: ConsoleState) -> str:
    return state.settings.oidc_redirect_url or str(request.base_url).rstrip("/") + "/login/oidc/callback"


def recent_auth_age(state: ConsoleState) -> timedelta:
    return timedelta(minutes=state.settings.recent_auth_minutes)


async def provider_redirect(
    request: Request, state: ConsoleState, flow: sso.NewFlow, *, max_age: int | None
) -> Response:
    """Send the browser to the provider, with the flow's ``state`` in a cookie only this browser has.

    ``max_age``: a step-up; the provider is asked to authenticate the user again (``prompt=login``).
    """
    url = await oidc_client(state).authorization_url(
        state=flow.state,
        nonce=flow.nonce,
        code_verifier=flow.code_verifier,
        redirect_uri=redirect_uri(request, state),
        max_age=max_age,
    )
    secure = is_secure(request, state)
    response = RedirectResponse(url, status_code=303)
    # Lax: the provider's redirect back is a top-level GET, which carries it; nothing else does.
    response.set_cookie(
        oidc_state_cookie_name(secure), flow.state, httponly=True, samesite="lax", secure=secure, path="/", max_age=600
    )
    return response
