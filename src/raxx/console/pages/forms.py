"""Form checks every mutating page shares: CSRF, and "what you see is where you act".

A form carries the environment it was rendered for; the server acts in that
environment or refuses. The session's current environment is never consulted here:
a tab left on staging keeps acting on staging.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from fastapi import Request

from raxx.common.errors import BadRequest, Forbidden
from raxx.common.logging import log_event
from raxx.common.storable import text_problem
from raxx.console.auth.service import Login, csrf_matches

log = logging.getLogger("raxx.console.forms")


class CsrfFailure(Forbidden):
    code = "csrf_failed"


class EnvironmentMismatch(BadRequest):
    code = "environment_mismatch"


def check_csrf(request: Request, login: Login, given: str | None) -> None:
    if not csrf_matches(login.csrf_token, given):
        log_event(log, "console.csrf.failed", level=logging.WARNING, user=login.user_name, path=request.url.path)
        raise CsrfFailure("This form expired or did not come from this console. Nothing was changed; reload and retry.")


def check_form_environment(url_env: str, form_env: str | None) -> None:
    """Refuse a form whose environment differs from the URL's: nothing is sent anywhere."""
    if form_env != url_env:
        raise EnvironmentMismatch(
            f"This form was rendered for {form_env or 'no environment'!s} but posted to {url_env}. "
            "Nothing was sent. Reload the page you meant to act on.",
            extra={"url_env": url_env, "form_env": form_env},
        )


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_csrf_token(secret_key: str, nonce: str) -> str:
    """The login form's token: an HMAC of the nonce in its cookie (double submit, signed)."""
    return hmac.new(secret_key.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def login_csrf_valid(secret_key: str, nonce: str | None, given: str | None) -> bool:
    if not nonce or not given:
        return False
    return hmac.compare_digest(login_csrf_token(secret_key, nonce), given)


def safe_next(value: str | None) -> str | None:
    """A same-origin path to go to after login, or None (no open redirects; no control
    characters: the path is stored with a sign-in flow, ``raxx.common.storable``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 512:
        return None
    return None if text_problem(value, one_line=True) else value
