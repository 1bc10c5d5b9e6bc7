"""Security headers on every response, and cookie names that follow the scheme.

The CSP allows no inline script or style at all: per-environment colors come from
``/theme/{env}.css`` so the banner needs no ``style=`` attribute.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def with_security_headers(
    headers: list[tuple[bytes, bytes]], scope: Scope, defaults: list[tuple[bytes, bytes]] = HEADERS
) -> list[tuple[bytes, bytes]]:
    """``headers`` plus every security header they do not already set (a new list)."""
    headers = list(headers)
    present = {name.lower() for name, _ in headers}
    headers.extend(h for h in defaults if h[0] not in present)
    if b"cache-control" not in present:
        headers.append((b"cache-control", b"no-store"))
    if scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


def headers_with_form_targets(origins: list[str]) -> list[tuple[bytes, bytes]]:
    """:data:`HEADERS` with ``origins`` added to the CSP's ``form-action``.

    A form posted to the console may be answered with a redirect to the identity provider
    (a step-up before a prod action, the provider's sign-out), and Chromium applies
    ``form-action`` to where the redirect leads as well.
    """
    if not origins:
        return HEADERS
    csp = CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(origins))
    return [(b"content-security-policy", csp.encode()), *HEADERS[1:]]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, form_targets: list[str] | None = None) -> None:
        self.app = app
        self.defaults = headers_with_form_targets(form_targets or [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(message.get("headers", []), scope, self.defaults)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def session_cookie_name(secure: bool) -> str:
    """``__Host-`` cookies are bound to this exact origin, over https only."""
    return "__Host-raxx_session" if secure else "raxx_session"


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    """The session cookie, the same for every way of signing in.

    A browser-session cookie (no Max-Age/Expires): closing the browser forgets it, and the
    server ends the session anyway after the idle or absolute timeout (LoginPolicy).
    Strict: no request from another site (a link in a chat, a form elsewhere) carries it.
    """
    response.set_cookie(session_cookie_name(secure), token, httponly=True, samesite="strict", secure=secure, path="/")


def login_csrf_cookie_name(secure: bool) -> str:
    return "__Host-raxx_login" if secure else "raxx_login"


def oidc_state_cookie_name(secure: bool) -> str:
    """The ``state`` of this browser's trip to the identity provider."""
    return "__Host-raxx_oidc" if secure else "raxx_oidc"
