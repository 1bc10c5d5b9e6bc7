"""A small OpenID provider for trying single sign-on locally (``raxx up --oidc-demo``) and for
the tests, which drive the console's whole sign-in against it over real HTTP.

It implements what the console uses, the way a real provider does: discovery, the
authorization code flow with PKCE (S256 only), a login form with its own session
(``auth_time``; ``max_age`` and ``prompt=login`` make it ask again), a token endpoint with
client authentication (Basic or form), RS256 ID tokens with a ``kid``, a JWKS that keeps
old keys after a rotation, and an end-session endpoint. PKCE uses Authlib, signing joserfc.

It is a demo: users and clients live in memory and are given when it starts. Never point
a production console at it.
"""

from __future__ import annotations

import base64
import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_TTL_S = 60
ID_TOKEN_TTL_S = 300
SESSION_COOKIE = "demo_idp_session"


@dataclass
class DemoUser:
    username: str
    password: str
    email: str
    groups: list[str]
    subject: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    subject: str
    auth_time: int
    expires: float


@dataclass
class _ProviderSession:
    subject: str
    auth_time: int


class DemoProvider:
    """The provider's state; :meth:`app` serves it. ``issuer`` is the URL it is reached at."""

    def __init__(self, issuer: str, *, users: list[DemoUser], clients: list[DemoClient]) -> None:
        self.issuer = issuer.rstrip("/")
        self.users = {u.username: u for u in users}
        self.clients = {c.client_id: c for c in clients}
        self.keys: list[RSAKey] = []
        self.rotate_key()
        self.codes: dict[str, _Grant] = {}
        self.sessions: dict[str, _ProviderSession] = {}
        self.jwks_requests = 0

    # -- keys and tokens ---------------------------------------------------------------

    def rotate_key(self) -> RSAKey:
        """Sign with a new key from now on; the JWKS keeps publishing the old ones."""
        key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(6), "use": "sig", "alg": "RS256"})
        self.keys.append(key)
        return key

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet(list(self.keys)).as_dict(private=False))

    def id_token_claims(self, grant: _Grant, user: DemoUser) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.subject,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_S,
            "auth_time": grant.auth_time,
            "email": user.email,
            "preferred_username": user.username,
            "groups": list(user.groups),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.signing_key
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    # -- HTTP ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/end_session", self._end_session),
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "end_session_endpoint": f"{self.issuer}/end_session",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "email", "profile", "groups"],
                "claims_supported": ["sub", "email", "preferred_username", "groups", "auth_time", "nonce"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self.jwks_requests += 1
        return JSONResponse(self.jwks())

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        form: dict[str, str] = {}
        if request.method == "POST":
            raw = await request.form()
            form = {k: v for k, v in raw.items() if isinstance(v, str)}
            params = {k[2:]: v for k, v in form.items() if k.startswith("p_")}
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return HTMLResponse("<h1>Unknown client or redirect URI</h1>", status_code=400)
        if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
            return self._error_redirect(redirect_uri, params, "invalid_request", "code flow with PKCE S256 only")
        if not params.get("code_challenge"):
            return self._error_redirect(redirect_uri, params, "invalid_request", "code_challenge is required")
        if request.method == "POST":
            user = self.users.get(form.get("username", ""))
            if user is None or not hmac.compare_digest(user.password.encode(), form.get("password", "").encode()):
                return self._login_form(params, error="Wrong user name or password.")
            session_id = secrets.token_urlsafe(24)
            self.sessions[session_id] = _ProviderSession(user.subject, int(time.time()))
            response = self._issue_code(params, self.sessions[session_id])
            response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax", path="/")
            return response
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        max_age = params.get("max_age")
        too_old = session is not None and max_age is not None and time.time() - session.auth_time > int(max_age)
        if session is None or params.get("prompt") == "login" or too_old:
            return self._login_form(params)
        return self._issue_code(params, session)

    def _issue_code(self, params: dict[str, str], session: _ProviderSession) -> Response:
        code = secrets.token_urlsafe(32)
        self.codes[code] = _Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            nonce=params.get("nonce"),
            code_challenge=params["code_challenge"],
            subject=session.subject,
            auth_time=session.auth_time,
            expires=time.time() + CODE_TTL_S,
        )
        return RedirectResponse(self.callback_url(params, code=code), status_code=303)

    def callback_url(self, params: dict[str, str], **answer: str) -> str:
        """The client's redirect URI with the answer and the client's ``state``."""
        query = dict(answer)
        if "state" in params:
            query["state"] = params["state"]
        sep = "&" if urlsplit(params["redirect_uri"]).query else "?"
        return params["redirect_uri"] + sep + urlencode(query)

    def _error_redirect(self, redirect_uri: str, params: dict[str, str], error: str, description: str) -> Response:
        url = self.callback_url({**params, "redirect_uri": redirect_uri}, error=error, error_description=description)
        return RedirectResponse(url, status_code=303)

    def _login_form(self, params: dict[str, str], *, error: str | None = None) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="p_{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        message = f'<p id="idp-error" role="alert">{html.escape(error)}</p>' if error else ""
        body = f"""<!doctype html><html><head><title>Demo identity provider: sign in</title></head>
<body><h1>Demo identity provider</h1><p>Sign in to continue to <b>{html.escape(params.get("client_id", ""))}</b>.</p>
{message}<form method="post" action="/authorize">{hidden}
<label>User name <input id="idp-username" name="username" autocomplete="username"></label>
<label>Password <input id="idp-password" name="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="idp-sign-in">Sign in</button></form></body></html>"""
        return HTMLResponse(body, status_code=401 if error else 200)

    async def _token(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        client = self._authenticate_client(request, form)
        if client is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self.codes.pop(form.get("code", ""), None)  # single use, whatever happens next
        if form.get("grant_type") != "authorization_code" or grant is None or grant.expires < time.time():
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if grant.client_id != client.client_id or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant", "error_description": "redirect_uri"}, status_code=400)
        verifier = form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(create_s256_code_challenge(verifier), grant.code_challenge):
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE verifier"}, status_code=400)
        user = next((u for u in self.users.values() if u.subject == grant.subject), None)
        if user is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        id_token = self.sign(self.id_token_claims(grant, user))
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_TTL_S,
                "id_token": id_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    def _authenticate_client(self, request: Request, form: dict[str, str]) -> DemoClient | None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            return None
        return client

    async def _end_session(self, request: Request) -> Response:
        self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        back = request.query_params.get("post_logout_redirect_uri", "")
        client = self.clients.get(request.query_params.get("client_id", ""))
        allowed = client is not None and any(_origin(back) == _origin(uri) for uri in client.redirect_uris)
        response: Response = (
            RedirectResponse(back, status_code=303)
            if back and allowed
            else HTMLResponse("<h1>Signed out of the demo identity provider</h1>")
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


#: The demo's groups and what they grant in the console (``CONSOLE_OIDC_ROLE_MAP``).
DEMO_ROLE_MAP: dict[str, dict[str, str]] = {
    "raxx-staging-operators": {"staging": "operator"},
    "raxx-prod-operators": {"staging": "operator", "prod": "operator"},
}


def demo_users(password: str) -> list[DemoUser]:
    """The two people of ``raxx up --oidc-demo``: one staging operator, one prod operator."""
    return [
        DemoUser("stella", password, "stella@example.com", ["raxx-staging-operators"], subject="demo-stella"),
        DemoUser("paul", password, "paul@example.com", ["raxx-prod-operators"], subject="demo-paul"),
    ]
