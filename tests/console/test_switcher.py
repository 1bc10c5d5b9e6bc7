from __future__ import annotations

import httpx

from tests.console.conftest import PASSWORD
from tests.fixtures.apps import csrf_from, login


async def _signed_in(console: httpx.AsyncClient, name: str = "alice") -> str:
    await login(console, name, PASSWORD)
    return csrf_from((await console.get("/staging/")).text)


async def test_every_page_carries_banner_title_and_favicon(console: httpx.AsyncClient) -> None:
    await _signed_in(console)
    for env, label in (("staging", "STAGING"), ("prod", "PRODUCTION")):
        page = (await console.get(f"/{env}/")).text
        assert '<div id="env-banner" class="env-banner' in page
        assert f'data-env="{env}"' in page
        assert f"<title>[{env.upper()}]" in page
        assert f'href="/favicon/{env}.svg"' in page
        assert f'href="/theme/{env}.css"' in page
        assert label in page
    assert "env-protected" in (await console.get("/prod/")).text
    assert "env-protected" not in (await console.get("/staging/")).text


async def test_banner_shows_what_the_backend_says(console: httpx.AsyncClient) -> None:
    await _signed_in(console)
    page = (await console.get("/prod/")).text
    assert 'data-backend-env="prod"' in page
    assert 'data-field="database"' in page


async def test_switch_into_protected_env_asks_for_confirmation_first(console: httpx.AsyncClient) -> None:
    csrf = await _signed_in(console)
    form = {"csrf_token": csrf, "from_env": "staging", "to_env": "prod", "next": "/health"}
    ask = await console.post("/switch", data=form)
    assert ask.status_code == 200
    assert 'data-confirm="switch"' in ask.text
    assert 'data-env="staging"' in ask.text  # still on staging until confirmed
    root = await console.get("/")
    assert root.headers["location"] == "/staging/"
    done = await console.post("/switch", data={**form, "confirmed": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == "/prod/health"
    assert (await console.get("/")).headers["location"] == "/prod/"


async def test_switch_to_unprotected_env_needs_no_confirmation(console: httpx.AsyncClient) -> None:
    csrf = await _signed_in(console)
    done = await console.post(
        "/switch", data={"csrf_token": csrf, "from_env": "prod", "to_env": "staging", "next": "/orders/some-id"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/staging/orders"


async def test_switch_with_forged_csrf_is_refused_and_changes_nothing(console: httpx.AsyncClient) -> None:
    await _signed_in(console)
    response = await console.post(
        "/switch", data={"csrf_token": "forged", "from_env": "staging", "to_env": "prod", "confirmed": "yes"}
    )
    assert response.status_code == 403
    assert 'data-error="csrf_failed"' in response.text
    assert (await console.get("/")).headers["location"] == "/staging/"


async def test_unknown_environment_is_a_404_with_an_unknown_banner(console: httpx.AsyncClient) -> None:
    await _signed_in(console)
    response = await console.get("/qa/")
    assert response.status_code == 404
    assert 'data-env="unknown"' in response.text
    assert "UNKNOWN ENVIRONMENT" in response.text


async def test_no_role_in_an_environment_means_no_access(console: httpx.AsyncClient) -> None:
    csrf = await _signed_in(console, "victor")
    assert (await console.get("/staging/")).status_code == 200
    denied = await console.get("/prod/")
    assert denied.status_code == 403
    assert 'data-env="prod"' in denied.text
    switch = await console.post("/switch", data={"csrf_token": csrf, "to_env": "prod", "confirmed": "yes"})
    assert switch.status_code == 403


async def test_health_page_shows_identity_readiness_and_console_health(console: httpx.AsyncClient) -> None:
    await _signed_in(console)
    page = (await console.get("/staging/health")).text
    assert 'data-ready="ready"' in page
    assert 'data-field="environment">staging<' in page
    assert 'data-console-health="ok"' in page
    health = (await console.get("/healthz")).json()
    assert health == {"status": "ok", "service": "console", "release": "console-test"}


async def test_theme_and_favicon_use_the_environment_color(console: httpx.AsyncClient) -> None:
    css = await console.get("/theme/prod.css")
    assert "#b91c1c" in css.text
    assert css.headers["content-type"].startswith("text/css")
    icon = await console.get("/favicon/staging.svg")
    assert "#b45309" in icon.text
