"""The Platform API client's error mapping and retries, faked at the transport (respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.heroku_types import (
    HerokuAuthError,
    HerokuNotFound,
    HerokuRateLimited,
    HerokuRejected,
    HerokuUnavailable,
)
from tests.fixtures.network import LOOPBACK_ONLY

pytestmark = LOOPBACK_ONLY

API = "https://api.heroku.com"


def client(sleeps: list[float] | None = None) -> HerokuClient:
    async def record(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return HerokuClient("tok", sleep=record)


def release(version: int, *, current: bool = False) -> dict[str, object]:
    return {"id": f"rel-{version}", "version": version, "status": "succeeded", "current": current, "slug": {"id": "s"}}


@respx.mock
async def test_a_429_waits_as_told_then_succeeds_and_the_budget_is_tracked() -> None:
    route = respx.get(f"{API}/apps/acme").mock(
        side_effect=[
            httpx.Response(429, json={"id": "rate_limit", "message": "slow down"}, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"id": "a1", "name": "acme"}, headers={"RateLimit-Remaining": "4321"}),
        ]
    )
    sleeps: list[float] = []
    heroku = client(sleeps)
    app = await heroku.app("acme")
    await heroku.aclose()
    assert (app.id, route.call_count, sleeps) == ("a1", 2, [7.0])
    assert heroku.rate_limit_remaining == 4321


@respx.mock
async def test_a_429_that_does_not_clear_is_reported_as_rate_limited() -> None:
    respx.get(f"{API}/apps/acme").mock(return_value=httpx.Response(429, json={"id": "rate_limit", "message": "no"}))
    heroku = client([])
    with pytest.raises(HerokuRateLimited, match="rate limited"):
        await heroku.app("acme")
    await heroku.aclose()


@respx.mock
async def test_credentials_refused_name_the_setting() -> None:
    respx.get(f"{API}/apps/acme").mock(
        return_value=httpx.Response(401, json={"id": "unauthorized", "message": "Invalid credentials provided."})
    )
    heroku = client()
    with pytest.raises(HerokuAuthError) as caught:
        await heroku.app("acme")
    await heroku.aclose()
    assert "GATE_HEROKU_API_TOKEN" in str(caught.value.detail)
    assert "Invalid credentials provided." in str(caught.value.detail)
    assert caught.value.exit_code == 5  # the gate's "deploy failed, nothing changed"


@respx.mock
async def test_not_found_and_rejected_carry_heroku_s_id_and_message() -> None:
    respx.get(f"{API}/apps/ghost").mock(
        return_value=httpx.Response(404, json={"id": "not_found", "message": "Couldn't find that app."})
    )
    respx.post(f"{API}/apps/acme/releases").mock(
        return_value=httpx.Response(422, json={"id": "invalid_params", "message": "Release is not eligible."})
    )
    heroku = client()
    with pytest.raises(HerokuNotFound, match=r"not_found: Couldn't find that app\."):
        await heroku.app("ghost")
    with pytest.raises(HerokuRejected, match=r"invalid_params: Release is not eligible\."):
        await heroku.create_release("acme", rollback_to="rel-1")
    await heroku.aclose()


@respx.mock
async def test_a_read_that_times_out_is_retried() -> None:
    route = respx.get(f"{API}/apps/acme/releases").mock(
        side_effect=[httpx.ConnectTimeout("slow"), httpx.Response(200, json=[release(3, current=True)])]
    )
    sleeps: list[float] = []
    heroku = client(sleeps)
    current = await heroku.current_release("acme")
    await heroku.aclose()
    assert current is not None
    assert (current.version, route.call_count, sleeps) == (3, 2, [2.0])
    assert route.calls[0].request.headers["Range"] == "version ..; order=desc, max=20;"


@respx.mock
async def test_a_create_that_times_out_is_not_retried_and_says_so() -> None:
    route = respx.post(f"{API}/pipeline-promotions").mock(side_effect=httpx.ReadTimeout("stalled"))
    heroku = client([])
    with pytest.raises(HerokuUnavailable, match="may or may not have happened"):
        await heroku.create_promotion(pipeline_id="p", source_app_id="s", source_release_id="r", target_app_ids=["t"])
    await heroku.aclose()
    assert route.call_count == 1
    body = json.loads(route.calls[0].request.content)
    assert body == {
        "pipeline": {"id": "p"},
        "source": {"app": {"id": "s"}, "release": {"id": "r"}},
        "targets": [{"app": {"id": "t"}}],
    }


@respx.mock
async def test_a_rollback_posts_the_earlier_release_id() -> None:
    route = respx.post(f"{API}/apps/acme/releases").mock(return_value=httpx.Response(201, json=release(9)))
    heroku = client()
    made = await heroku.create_release("acme", rollback_to="rel-4", description="Rollback")
    await heroku.aclose()
    assert json.loads(route.calls[0].request.content) == {"release": "rel-4", "description": "Rollback"}
    assert made.version == 9
    with pytest.raises(ValueError, match="exactly one"):
        await heroku.create_release("acme")


@respx.mock
async def test_config_vars_are_the_apps_flat_object_read_with_the_v3_accept_and_the_token() -> None:
    # platform-api schema, config-var "Info for App": a flat object; a value may be null.
    body = {"DATABASE_URL": "postgres://u:p@ec2.example:5432/d", "GATE_DATABASE_URL": "postgres://g:q@h/l", "X": None}
    route = respx.get(f"{API}/apps/acme-console/config-vars").mock(return_value=httpx.Response(200, json=body))
    heroku = client()
    values = await heroku.config_vars("acme-console")
    await heroku.aclose()
    assert values == {"DATABASE_URL": "postgres://u:p@ec2.example:5432/d", "GATE_DATABASE_URL": "postgres://g:q@h/l"}
    request = route.calls[0].request
    assert request.headers["Accept"] == "application/vnd.heroku+json; version=3"
    assert request.headers["Authorization"] == "Bearer tok"


@respx.mock
async def test_config_vars_without_access_are_an_auth_error() -> None:
    respx.get(f"{API}/apps/acme-console/config-vars").mock(
        return_value=httpx.Response(
            403, json={"id": "forbidden", "message": "You do not have access to the app acme-console."}
        )
    )
    heroku = client()
    with pytest.raises(HerokuAuthError, match="You do not have access"):
        await heroku.config_vars("acme-console")
    await heroku.aclose()
