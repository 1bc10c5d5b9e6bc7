"""A thin Infisical client: universal-auth login and one secrets read per environment path.

Why not the official ``infisicalsdk``: it sets no request timeout, imports boto3 eagerly
(slug size, cold start on Heroku), never renews its token, and still calls the
``/api/v3/secrets/raw`` endpoint Infisical documents as deprecated. We need two
endpoints; this client speaks them with httpx, explicit timeouts, bounded retries on
network errors, and a re-login when the access token expires or is refused.

Wire shapes (Infisical API reference):

* ``POST /api/v1/auth/universal-auth/login`` ``{"clientId", "clientSecret"}`` ->
  ``{"accessToken", "expiresIn", "accessTokenMaxTTL", "tokenType": "Bearer"}``
* ``GET /api/v4/secrets?projectId=&environment=&secretPath=&viewSecretValue=true&
  expandSecretReferences=true&recursive=false&include_imports=true`` ->
  ``{"secrets": [{"secretKey", "secretValue", ...}], "imports": [{"secretPath",
  "environment", "secrets": [...]}]}``
* errors: ``{"statusCode", "message", "error"}``

Nothing here ever puts a secret value (or the client secret) in an exception or a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from raxx.common.errors import ConfigError, Unavailable

DEFAULT_API_URL = "https://app.infisical.com"
LOGIN_PATH = "/api/v1/auth/universal-auth/login"
SECRETS_PATH = "/api/v4/secrets"
#: Log in again this long before the token's announced expiry, so a read never races it.
EXPIRY_MARGIN_S = 30.0
RETRYABLE_STATUS = frozenset({502, 503, 504})

#: The variables that configure Infisical; they always come from the process environment
#: (Heroku config vars), since they are what unlocks every other secret.
ENV_CLIENT_ID = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID"
ENV_CLIENT_SECRET = "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET"  # noqa: S105 - a variable name
ENV_PROJECT_ID = "INFISICAL_PROJECT_ID"
ENV_ENVIRONMENT = "INFISICAL_ENVIRONMENT"
ENV_SECRET_PATH = "INFISICAL_SECRET_PATH"  # noqa: S105 - a variable name
ENV_API_URL = "INFISICAL_API_URL"
ENV_TIMEOUT = "INFISICAL_TIMEOUT_S"


class InfisicalUnavailable(Unavailable):
    """Infisical could not be reached or did not answer in time."""

    code = "infisical_unavailable"


class InfisicalRefused(ConfigError):
    """Infisical answered but refused: bad credentials, unknown project, environment or path."""

    code = "infisical_refused"


@dataclass(frozen=True)
class InfisicalConfig:
    """Where a deployable's secrets live in Infisical and the machine identity that reads them."""

    client_id: str
    client_secret: str = field(repr=False)
    project_id: str
    environment: str
    secret_path: str = "/"  # noqa: S105 - a folder, not a secret
    api_url: str = DEFAULT_API_URL
    timeout_s: float = 5.0
    connect_timeout_s: float = 3.0
    retries: int = 2

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str],
        *,
        environment: str | None = None,
        secret_path: str | None = None,
    ) -> InfisicalConfig | None:
        """The configuration in ``environ``; None when Infisical is not configured at all.

        A half configuration (a client id but no project, say) is refused by name: it is
        a mistake, and silently falling back to config vars would hide it.
        """
        present = {name: environ.get(name, "").strip() for name in (ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_PROJECT_ID)}
        if not any(present.values()):
            return None
        missing = [name for name, value in present.items() if not value]
        env_slug = (environment or environ.get(ENV_ENVIRONMENT, "")).strip()
        if not env_slug:
            missing.append(ENV_ENVIRONMENT)
        if missing:
            raise ConfigError(f"Infisical is half configured: {', '.join(missing)} not set")
        return cls(
            client_id=present[ENV_CLIENT_ID],
            client_secret=present[ENV_CLIENT_SECRET],
            project_id=present[ENV_PROJECT_ID],
            environment=env_slug,
            secret_path=_normal_path(secret_path or environ.get(ENV_SECRET_PATH) or "/"),
            api_url=(environ.get(ENV_API_URL) or DEFAULT_API_URL).rstrip("/"),
            timeout_s=_float(environ, ENV_TIMEOUT, 5.0),
        )

    def describe(self) -> str:
        """Where the secrets are read from (names and ids only)."""
        return f"infisical {self.api_url} project {self.project_id} env {self.environment} path {self.secret_path}"


def _normal_path(path: str) -> str:
    path = "/" + path.strip().strip("/")
    return path


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} is invalid: not a number") from None
    if not 0 < value <= 60:
        raise ConfigError(f"{name} is invalid: must be between 0 and 60 seconds")
    return value


class InfisicalClient:
    """Reads one environment path's secrets; logs in lazily and again when the token expires."""

    def __init__(
        self,
        config: InfisicalConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._monotonic = monotonic
        self._sleep = sleep
        self._token: str | None = None
        self._token_expires_at = 0.0
        self.logins = 0
        self._http = httpx.Client(
            base_url=config.api_url,
            transport=transport,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            headers={"Accept": "application/json", "User-Agent": "raxx-infisical"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfisicalClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the two endpoints -------------------------------------------------------------

    def login(self) -> None:
        """Universal auth: exchange the machine identity's client id and secret for a token."""
        response = self._send(
            "POST", LOGIN_PATH, json={"clientId": self.config.client_id, "clientSecret": self.config.client_secret}
        )
        if response.status_code != 200:
            raise self._refusal(response, "login with the machine identity")
        body = _json(response, "login")
        token = body.get("accessToken")
        if not isinstance(token, str) or not token:
            raise InfisicalUnavailable("Infisical login answered without an access token")
        expires_in = body.get("expiresIn")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 300.0
        self._token = token
        self._token_expires_at = self._monotonic() + max(lifetime - EXPIRY_MARGIN_S, lifetime / 2)
        self.logins += 1

    def list_secrets(self) -> dict[str, str]:
        """Every secret at the configured path, imports merged the way Infisical's own action does:
        direct secrets win; imports fill only missing keys, the last import first."""
        params = {
            "projectId": self.config.project_id,
            "environment": self.config.environment,
            "secretPath": self.config.secret_path,
            "viewSecretValue": "true",
            "expandSecretReferences": "true",
            "recursive": "false",
            "include_imports": "true",
        }
        response = self._authorized("GET", SECRETS_PATH, params=params)
        if response.status_code != 200:
            raise self._refusal(response, f"read {self.config.describe()}")
        return merge_secrets(_json(response, "secrets list"))

    # -- plumbing ----------------------------------------------------------------------

    def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with a valid token; a 401 (revoked, expired early) gets one fresh login and a retry."""
        if self._token is None or self._monotonic() >= self._token_expires_at:
            self.login()
        response = self._send(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        if response.status_code == 401:
            self.login()
            response = self._send(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        return response

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request with bounded retries on network errors and gateway errors (reads and login
        are idempotent); raises ``InfisicalUnavailable`` once the retries are spent."""
        last = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._sleep(0.5 * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                last = f"no answer within {self.config.timeout_s:g} s"
                continue
            except httpx.TransportError as exc:
                last = f"cannot connect ({type(exc).__name__})"
                continue
            if response.status_code in RETRYABLE_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            return response
        raise InfisicalUnavailable(f"Infisical at {self.config.api_url} is unavailable: {last}")

    def _refusal(self, response: httpx.Response, what: str) -> InfisicalUnavailable | InfisicalRefused:
        status = response.status_code
        if status >= 500 or status == 429:
            return InfisicalUnavailable(f"Infisical could not {what}: HTTP {status}")
        kind = _error_name(response)
        hints = {
            401: f"check {ENV_CLIENT_ID} and {ENV_CLIENT_SECRET}",
            403: "the machine identity has no access to this project, environment or path",
            404: f"check {ENV_PROJECT_ID}, {ENV_ENVIRONMENT} and {ENV_SECRET_PATH}",
        }
        hint = hints.get(status, "see the Infisical audit log")
        return InfisicalRefused(f"Infisical refused to {what}: HTTP {status} {kind}; {hint}")


def merge_secrets(body: Mapping[str, Any]) -> dict[str, str]:
    """Direct secrets win; imports are walked last to first, each filling only missing keys."""
    merged: dict[str, str] = {}
    for item in body.get("secrets") or []:
        _take(merged, item)
    for imported in reversed(body.get("imports") or []):
        for item in imported.get("secrets") or []:
            _take(merged, item)
    return merged


def _take(merged: dict[str, str], item: Any) -> None:
    if not isinstance(item, Mapping):
        return
    key, value = item.get("secretKey"), item.get("secretValue")
    if isinstance(key, str) and isinstance(value, str) and key not in merged:
        merged[key] = value


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise InfisicalUnavailable(f"Infisical {what} answer is not JSON") from None
    if not isinstance(body, dict):
        raise InfisicalUnavailable(f"Infisical {what} answer is not a JSON object")
    return body


def _error_name(response: httpx.Response) -> str:
    """The error's class name only: Infisical messages may echo request input, so we keep none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    name = body.get("error") if isinstance(body, dict) else None
    return str(name)[:60] if isinstance(name, str) else ""
