"""The console as an OpenID Connect relying party: discovery, the authorization request
(code flow with PKCE, ``state``, ``nonce``), the code exchange and the ID token checks.

Authlib builds the request (PKCE S256 challenge, URL parameters); joserfc, Authlib's JOSE
library, verifies the ID token's signature against the provider's JWKS. Every refusal is
an :class:`OidcRefused` whose ``code`` names the reason (``wrong_issuer``,
``bad_signature``...), so the sign-in page and the audit trail say exactly what failed.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import KeySet

from raxx.common.errors import Unauthorized, Unavailable
from raxx.common.storable import field_problems
from raxx.console.auth.roles import ROLE_STRENGTH

#: Asymmetric algorithms only: ``none`` and HMAC (keyed with the client secret) are refused.
ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]

#: What each refusal says to the person signing in (the code goes to the audit trail too).
REASONS: dict[str, str] = {
    "state_mismatch": "This sign-in answer does not belong to the sign-in this browser started (state mismatch).",
    "flow_unknown": "This sign-in was already used or has expired.",
    "provider_error": "The identity provider refused the sign-in.",
    "token_exchange_failed": "The identity provider did not exchange the sign-in code for a token.",
    "malformed_token": "The identity provider's ID token is not a valid signed token.",
    "alg_not_allowed": "The ID token is not signed with an allowed algorithm (no unsigned or HMAC tokens).",
    "bad_signature": "The ID token's signature does not verify against the identity provider's published keys.",
    "unknown_key": "The ID token is signed with a key the identity provider does not publish.",
    "wrong_issuer": "The ID token was issued by another identity provider than the one configured.",
    "wrong_audience": "The ID token was issued for another application, not this console.",
    "token_expired": "The ID token has expired.",
    "token_not_yet_valid": "The ID token was issued in the future (check the clocks).",
    "nonce_mismatch": "The ID token was not issued for this sign-in (nonce mismatch).",
    "nonce_replayed": "The ID token was already used for an earlier sign-in (replayed nonce).",
    "missing_claim": "The ID token lacks a claim the console needs.",
    "unstorable_claim": "The ID token holds a claim with control characters, which the console does not take.",
    "no_role": "Your groups at the identity provider grant no role in this console.",
    "user_mismatch": "You signed in again as another user than the one of this session.",
    "not_recent": "The identity provider did not ask for your credentials again.",
    "name_conflict": "A console account with this name (however it is spelt) exists and is not linked to this "
    "identity provider account.",
    "invisible_name": "Your user name at the identity provider holds an invisible formatting character (a zero "
    "width space, a direction override...), which would let it pass for another name: the console does not take it.",
    "disabled": "This console account is disabled.",
}


class ProviderUnavailable(Unavailable):
    """The identity provider's discovery document or keys could not be read (503)."""

    code = "identity_provider_unavailable"


class OidcRefused(Unauthorized):
    """A sign-in through the identity provider was refused; ``code`` is the reason (:data:`REASONS`)."""

    def __init__(self, reason: str, extra_detail: str = "") -> None:
        detail = REASONS.get(reason, reason) + (f" {extra_detail}" if extra_detail else "")
        super().__init__(detail, code=f"oidc_{reason}")
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class IdClaims:
    """What the console takes from a verified ID token."""

    issuer: str
    subject: str
    username: str
    groups: tuple[str, ...]
    auth_time: datetime
    nonce: str | None
    raw: str


@dataclass(frozen=True)
class ClientConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    groups_claim: str
    username_claim: str
    clock_skew: timedelta
    jwks_refresh: timedelta


class OidcClient:
    """One per console process: caches the provider's metadata and keys.

    Keys are fetched again when a token names a key id not seen yet (the provider
    rotated), at most once per ``jwks_refresh``, so tokens with made-up key ids cannot
    make the console hammer the provider.
    """

    def __init__(self, config: ClientConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self._metadata: ProviderMetadata | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = float("-inf")
        self.jwks_fetches = 0

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
            body = await self._get_json(url)
            if body.get("issuer") != self.config.issuer:
                raise OidcRefused("wrong_issuer", f"Discovery at {url} names {body.get('issuer')!r}.")
            self._metadata = ProviderMetadata(
                issuer=str(body["issuer"]),
                authorization_endpoint=str(body["authorization_endpoint"]),
                token_endpoint=str(body["token_endpoint"]),
                jwks_uri=str(body["jwks_uri"]),
                end_session_endpoint=body.get("end_session_endpoint"),
            )
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(
                f"The identity provider did not answer ({url}: {type(exc).__name__}). Nothing was changed; "
                "try again, or use a break-glass account if it stays down."
            ) from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable(f"The identity provider's {url} did not answer a JSON object.")
        return body

    async def authorization_url(
        self, *, state: str, nonce: str, code_verifier: str, redirect_uri: str, max_age: int | None = None
    ) -> str:
        """The provider's authorization URL; ``max_age`` also asks it to re-authenticate (``prompt=login``)."""
        meta = await self.metadata()
        params: list[tuple[str, str]] = [
            ("response_type", "code"),
            ("client_id", self.config.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", self.config.scopes),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(code_verifier)),
            ("code_challenge_method", "S256"),
        ]
        if max_age is not None:
            params += [("max_age", str(max_age)), ("prompt", "login")]
        return str(add_params_to_uri(meta.authorization_endpoint, params))

    async def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> str:
        """Trade the code for tokens at the token endpoint; return the raw ID token."""
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            "client_id": self.config.client_id,
        }
        secret = self.config.client_secret
        try:
            if secret:  # client_secret_basic, which every provider supports
                response = await self.http.post(meta.token_endpoint, data=form, auth=(self.config.client_id, secret))
            else:
                response = await self.http.post(meta.token_endpoint, data=form)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcRefused("token_exchange_failed", type(exc).__name__) from exc
        if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            raise OidcRefused("token_exchange_failed", f"(HTTP {response.status_code}, {error or 'no id_token'})")
        return str(body["id_token"])

    async def _key_set(self, kid: str | None) -> KeySet:
        known = self._keys is not None and (kid is None or any(k.kid == kid for k in self._keys.keys))
        stale = time.monotonic() - self._keys_fetched_at >= self.config.jwks_refresh.total_seconds()
        if self._keys is None or (not known and stale):
            meta = await self.metadata()
            self._keys = KeySet.import_key_set(await self._get_json(meta.jwks_uri))  # type: ignore[arg-type]
            self._keys_fetched_at = time.monotonic()
            self.jwks_fetches += 1
        return self._keys

    async def verify(self, raw: str, *, now: datetime) -> IdClaims:
        """Check the ID token's signature, issuer, audience and times; return its claims."""
        header = _unverified_header(raw)
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise OidcRefused("alg_not_allowed", f"(alg {header.get('alg')!r})")
        keys = await self._key_set(header.get("kid"))
        try:
            token = jwt.decode(raw, keys, algorithms=ALLOWED_ALGORITHMS)
        except UnsupportedAlgorithmError as exc:
            raise OidcRefused("alg_not_allowed") from exc
        except InvalidKeyIdError as exc:
            raise OidcRefused("unknown_key", f"(kid {header.get('kid')!r})") from exc
        except BadSignatureError as exc:
            raise OidcRefused("bad_signature") from exc
        except (JoseError, ValueError) as exc:
            raise OidcRefused("malformed_token", type(exc).__name__) from exc
        return self._claims(token.claims, raw, now=now)

    def _claims(self, claims: Mapping[str, Any], raw: str, *, now: datetime) -> IdClaims:
        cfg = self.config
        if claims.get("iss") != cfg.issuer:
            raise OidcRefused("wrong_issuer", f"(iss {claims.get('iss')!r})")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if cfg.client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != cfg.client_id):
            raise OidcRefused("wrong_audience", f"(aud {audience!r})")
        exp, iat = _timestamp(claims, "exp"), _timestamp(claims, "iat")
        if exp + cfg.clock_skew <= now:
            raise OidcRefused("token_expired", f"(expired {exp.isoformat()})")
        if iat - cfg.clock_skew > now:
            raise OidcRefused("token_not_yet_valid")
        # No auth_time (the provider did not say): the token's own time is the best we know.
        auth_time = _timestamp(claims, "auth_time") if "auth_time" in claims else iat
        subject, username = claims.get("sub"), claims.get(cfg.username_claim)
        if not isinstance(subject, str) or not subject:
            raise OidcRefused("missing_claim", "(sub)")
        if not isinstance(username, str) or not username:
            raise OidcRefused("missing_claim", f"({cfg.username_claim})")
        nonce = claims.get("nonce") if isinstance(claims.get("nonce"), str) else None
        _one_line_claims({"sub": subject, cfg.username_claim: username, "nonce": nonce or ""})
        return IdClaims(
            issuer=cfg.issuer,
            subject=subject,
            username=username[:64],
            groups=_groups(claims.get(cfg.groups_claim)),
            auth_time=auth_time,
            nonce=nonce,
            raw=raw,
        )

    async def end_session_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser to end the provider's session too (None: it has no such endpoint)."""
        endpoint = (await self.metadata()).end_session_endpoint
        if not endpoint:
            return None
        params = [("client_id", self.config.client_id), ("post_logout_redirect_uri", post_logout_redirect_uri)]
        if id_token:
            params.append(("id_token_hint", id_token))
        return str(add_params_to_uri(endpoint, params))


def _one_line_claims(values: dict[str, str]) -> None:
    """The claims the console stores and shows (a user's name, the subject it is linked by, the
    nonce it looks up) are one line of text (``raxx.common.storable``): even a signed token
    is refused otherwise, before any of it reaches the database."""
    if bad := sorted(field_problems(values, one_line=tuple(values))):
        raise OidcRefused("unstorable_claim", f"({', '.join(bad)})")


def _unverified_header(raw: str) -> dict[str, Any]:
    try:
        head = raw.split(".")[0]
        decoded = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, IndexError) as exc:
        raise OidcRefused("malformed_token") from exc
    if not isinstance(decoded, dict):
        raise OidcRefused("malformed_token")
    return decoded


def _timestamp(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise OidcRefused("missing_claim", f"({name})")
    return datetime.fromtimestamp(value, UTC)


def _groups(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(str(v) for v in value if isinstance(v, str))
    return ()


def roles_from_groups(
    groups: Sequence[str], role_map: Mapping[str, Mapping[str, str]], environments: Sequence[str]
) -> dict[str, str]:
    """The roles a user's groups grant, per environment; deny by default.

    A group not in the map grants nothing, and an environment (prod included) is only
    granted where the map names it: there is no wildcard and no default role.
    """
    roles: dict[str, str] = {}
    for group in groups:
        for environment, role in role_map.get(group, {}).items():
            if environment in environments and ROLE_STRENGTH[role] > ROLE_STRENGTH.get(roles.get(environment, ""), 0):
                roles[environment] = role
    return roles
