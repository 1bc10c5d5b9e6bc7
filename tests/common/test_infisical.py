"""The Infisical client against Infisical's wire shapes, faked at the transport (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from raxx.common.errors import ConfigError
from raxx.common.infisical import (
    InfisicalClient,
    InfisicalConfig,
    InfisicalRefused,
    InfisicalUnavailable,
    merge_secrets,
)
from tests.fixtures.network import LOOPBACK_ONLY

pytestmark = LOOPBACK_ONLY

API = "https://infisical.test"
CLIENT_SECRET = "ua-client-secret-8f3a9c"  # a known value the tests look for in errors


def config(**overrides: object) -> InfisicalConfig:
    values: dict[str, object] = {
        "client_id": "ua-client-id",
        "client_secret": CLIENT_SECRET,
        "project_id": "proj-123",
        "environment": "prod",
        "secret_path": "/raptor",
        "api_url": API,
        "timeout_s": 0.5,
        "connect_timeout_s": 0.5,
    }
    values.update(overrides)
    return InfisicalConfig(**values)  # type: ignore[arg-type]


def login_ok(token: str = "tok-1", expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(
        200, json={"accessToken": token, "expiresIn": expires_in, "accessTokenMaxTTL": 86400, "tokenType": "Bearer"}
    )


def secret(key: str, value: str) -> dict[str, object]:
    return {"id": "s1", "secretKey": key, "secretValue": value, "version": 1, "type": "shared", "environment": "prod"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@respx.mock(base_url=API, assert_all_called=False)
def test_login_then_list_sends_the_documented_request(respx_mock: respx.MockRouter) -> None:
    login = respx_mock.post("/api/v1/auth/universal-auth/login").mock(return_value=login_ok("tok-abc"))
    listing = respx_mock.get("/api/v4/secrets").mock(
        return_value=httpx.Response(
            200, json={"secrets": [secret("RAPTOR_DATABASE_URL", "postgres://x")], "imports": []}
        )
    )
    with InfisicalClient(config()) as client:
        values = client.list_secrets()

    assert values == {"RAPTOR_DATABASE_URL": "postgres://x"}
    assert json.loads(login.calls[0].request.content) == {"clientId": "ua-client-id", "clientSecret": CLIENT_SECRET}
    request = listing.calls[0].request
    assert request.headers["Authorization"] == "Bearer tok-abc"
    assert dict(request.url.params) == {
        "projectId": "proj-123",
        "environment": "prod",
        "secretPath": "/raptor",
        "viewSecretValue": "true",
        "expandSecretReferences": "true",
        "recursive": "false",
        "include_imports": "true",
    }


def test_imports_fill_only_missing_keys_last_import_first() -> None:
    body = {
        "secrets": [secret("A", "direct")],
        "imports": [
            {"secretPath": "/shared", "environment": "prod", "secrets": [secret("A", "first"), secret("B", "first")]},
            {"secretPath": "/common", "environment": "prod", "secrets": [secret("B", "last"), secret("C", "last")]},
        ],
    }
    assert merge_secrets(body) == {"A": "direct", "B": "last", "C": "last"}


@respx.mock(base_url=API)
def test_an_expired_token_means_a_new_login_before_the_read(respx_mock: respx.MockRouter) -> None:
    clock = Clock()
    login = respx_mock.post("/api/v1/auth/universal-auth/login").mock(
        side_effect=[login_ok("tok-1", 600), login_ok("tok-2", 600)]
    )
    listing = respx_mock.get("/api/v4/secrets").mock(return_value=httpx.Response(200, json={"secrets": []}))
    with InfisicalClient(config(), monotonic=clock) as client:
        client.list_secrets()
        clock.now += 100  # well inside the token's life: no new login
        client.list_secrets()
        clock.now += 480  # past expiry minus the margin
        client.list_secrets()

    assert login.call_count == 2
    assert [c.request.headers["Authorization"] for c in listing.calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


@respx.mock(base_url=API)
def test_a_token_refused_early_gets_one_fresh_login(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/api/v1/auth/universal-auth/login").mock(side_effect=[login_ok("old"), login_ok("new")])
    listing = respx_mock.get("/api/v4/secrets").mock(
        side_effect=[
            httpx.Response(401, json={"statusCode": 401, "message": "Token revoked", "error": "UnauthorizedError"}),
            httpx.Response(200, json={"secrets": [secret("K", "v")]}),
        ]
    )
    with InfisicalClient(config()) as client:
        assert client.list_secrets() == {"K": "v"}
        assert client.logins == 2
    assert listing.calls[-1].request.headers["Authorization"] == "Bearer new"


@respx.mock(base_url=API)
def test_bad_credentials_are_refused_naming_the_variables_not_the_secret(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/api/v1/auth/universal-auth/login").mock(
        return_value=httpx.Response(
            401, json={"statusCode": 401, "message": f"Invalid {CLIENT_SECRET}", "error": "UnauthorizedError"}
        )
    )
    with InfisicalClient(config()) as client, pytest.raises(InfisicalRefused) as caught:
        client.list_secrets()
    message = str(caught.value.detail)
    assert "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET" in message
    assert CLIENT_SECRET not in message
    assert CLIENT_SECRET not in repr(config())


@respx.mock(base_url=API)
def test_an_unknown_folder_names_project_environment_and_path_settings(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/api/v1/auth/universal-auth/login").mock(return_value=login_ok())
    respx_mock.get("/api/v4/secrets").mock(
        return_value=httpx.Response(404, json={"statusCode": 404, "message": "Folder not found", "error": "NotFound"})
    )
    with InfisicalClient(config()) as client, pytest.raises(InfisicalRefused, match="INFISICAL_SECRET_PATH"):
        client.list_secrets()


@respx.mock(base_url=API)
def test_timeouts_are_retried_a_bounded_number_of_times_then_unavailable(respx_mock: respx.MockRouter) -> None:
    login = respx_mock.post("/api/v1/auth/universal-auth/login").mock(side_effect=httpx.ReadTimeout("stalled"))
    sleeps: list[float] = []
    with InfisicalClient(config(), sleep=sleeps.append) as client, pytest.raises(InfisicalUnavailable) as caught:
        client.list_secrets()
    assert login.call_count == 3
    assert sleeps == [0.5, 1.0]
    assert "no answer within 0.5 s" in str(caught.value.detail)


@respx.mock(base_url=API)
def test_a_gateway_error_is_retried_and_can_recover(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/api/v1/auth/universal-auth/login").mock(side_effect=[httpx.Response(503), login_ok()])
    respx_mock.get("/api/v4/secrets").mock(return_value=httpx.Response(200, json={"secrets": [secret("K", "v")]}))
    with InfisicalClient(config(), sleep=lambda _: None) as client:
        assert client.list_secrets() == {"K": "v"}


def test_a_stalled_server_is_cut_off_by_the_timeout() -> None:
    """A real socket that accepts and never answers: the read timeout ends the wait."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        cfg = config(api_url=f"http://127.0.0.1:{port}", timeout_s=0.3, retries=0)
        with InfisicalClient(cfg) as client, pytest.raises(InfisicalUnavailable):
            client.login()
        assert time.monotonic() - started < 3
    finally:
        listener.close()


def test_config_comes_from_the_conventional_variables() -> None:
    environ = {
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": "id",
        "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "sec",
        "INFISICAL_PROJECT_ID": "p",
        "INFISICAL_ENVIRONMENT": "staging",
        "INFISICAL_SECRET_PATH": "raptor/",
        "INFISICAL_API_URL": "https://eu.infisical.com/",
    }
    cfg = InfisicalConfig.from_environ(environ)
    assert cfg is not None
    assert (cfg.environment, cfg.secret_path, cfg.api_url) == ("staging", "/raptor", "https://eu.infisical.com")
    assert InfisicalConfig.from_environ(environ, environment="prod", secret_path="/console") == InfisicalConfig(
        client_id="id",
        client_secret="sec",
        project_id="p",
        environment="prod",
        secret_path="/console",
        api_url="https://eu.infisical.com",
    )
    assert InfisicalConfig.from_environ({}) is None


def test_a_half_configuration_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="INFISICAL_PROJECT_ID, INFISICAL_ENVIRONMENT"):
        InfisicalConfig.from_environ(
            {"INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": "id", "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "s"}
        )
