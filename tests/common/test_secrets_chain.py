"""The secrets chain: Infisical, then .env (development), then config vars; fail closed."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import httpx
import pytest

from raxx.common.errors import ConfigError, Unavailable
from raxx.common.logging import JsonFormatter
from raxx.common.secrets import (
    ChainSecrets,
    EnvironSecrets,
    RedactingFormatter,
    build_secrets_chain,
    install_redaction,
)
from tests.fixtures.network import LOOPBACK_ONLY

pytestmark = LOOPBACK_ONLY

INFISICAL = {
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID": "id",
    "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET": "client-secret-value",
    "INFISICAL_PROJECT_ID": "proj",
    "INFISICAL_ENVIRONMENT": "staging",
    "INFISICAL_API_URL": "https://infisical.test",
}


def infisical_transport(values: dict[str, str], seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"accessToken": "t", "expiresIn": 3600, "tokenType": "Bearer"})
        items = [{"secretKey": k, "secretValue": v} for k, v in values.items()]
        return httpx.Response(200, json={"secrets": items, "imports": []})

    return httpx.MockTransport(handle)


def down_transport() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    return httpx.MockTransport(handle)


def test_first_provider_with_the_key_wins_and_says_which(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("B=from-dotenv\nC=from-dotenv\n")
    environ = {**INFISICAL, "C": "from-env", "D": "from-env"}
    chain = build_secrets_chain(
        environ, dotenv_file=dotenv, development=True, transport=infisical_transport({"A": "from-infisical", "B": "x"})
    )
    assert [chain.get(k) for k in "ABCD"] == ["from-infisical", "x", "from-dotenv", "from-env"]
    assert [chain.source_of(k) for k in "ABCDE"] == ["infisical", "infisical", "dotenv", "environment", None]
    assert chain.sources() == "infisical, dotenv, environment"


def test_infisical_reads_the_path_it_is_given_for_the_environment_asked() -> None:
    seen: list[httpx.Request] = []
    build_secrets_chain(
        INFISICAL, infisical_environment="prod", infisical_path="/raptor", transport=infisical_transport({}, seen)
    )
    listing = seen[-1].url.params
    assert (listing["environment"], listing["secretPath"]) == ("prod", "/raptor")


def test_without_infisical_the_chain_is_config_vars_only() -> None:
    chain = build_secrets_chain({"K": "v"})
    assert chain.sources() == "environment"
    assert chain.get("K") == "v"


def test_a_dotenv_file_is_refused_outside_development(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="development only"):
        build_secrets_chain({}, dotenv_file=tmp_path / ".env", development=False)


def test_infisical_down_refuses_to_start_naming_what_config_vars_lack() -> None:
    with pytest.raises(Unavailable) as caught:
        build_secrets_chain({**INFISICAL, "A": "set"}, required=["A", "B"], transport=down_transport())
    assert "refusing to start" in str(caught.value.detail)
    assert "B" in str(caught.value.detail)


def test_infisical_down_falls_back_only_when_every_required_key_is_a_config_var() -> None:
    chain = build_secrets_chain({**INFISICAL, "A": "1", "B": "2"}, required=["A", "B"], transport=down_transport())
    assert chain.sources() == "environment"
    assert chain.notes
    assert "using those" in chain.notes[0]


def test_require_all_names_every_missing_key_and_no_value() -> None:
    chain = ChainSecrets([EnvironSecrets({"PRESENT": "hunter2-value"})])
    with pytest.raises(ConfigError) as caught:
        chain.require_all({"PRESENT": "", "MISSING_ONE": "", "MISSING_TWO": ""})
    detail = str(caught.value.detail)
    assert "MISSING_ONE, MISSING_TWO" in detail
    assert "hunter2-value" not in detail
    assert "PRESENT" not in detail
    assert "hunter2-value" not in repr(chain)


def test_empty_values_count_as_missing() -> None:
    chain = ChainSecrets([EnvironSecrets({"EMPTY": ""})])
    assert [s.present for s in chain.check(["EMPTY"])] == [False]


def test_redaction_blanks_known_values_in_messages_fields_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    install_redaction(["s3cr3t-token-value", "abc"], logger)
    try:
        raise RuntimeError("connect to postgres://u:s3cr3t-token-value@h/db failed")
    except RuntimeError:
        logger.exception("db down", extra={"url": "postgres://u:s3cr3t-token-value@h/db", "word": "abc"})
    line = stream.getvalue()
    assert "s3cr3t-token-value" not in line
    assert line.count("[redacted]") == 3
    assert '"word":"abc"' in line  # too short to redact without mangling ordinary words
    assert isinstance(handler.formatter, RedactingFormatter)
    install_redaction(["another-secret"], logger)  # re-installing wraps the original, not the wrapper
    assert isinstance(handler.formatter, RedactingFormatter)
    assert isinstance(handler.formatter.inner, JsonFormatter)
