"""Single sign-on in Chromium, against a real OpenID provider over HTTP.

The console runs as a real server configured for the test provider (the product's demo
provider, with the misbehaviours of tests/fixtures/oidc.py), in front of real Raptor
staging and prod. Each refusal must show a clear page and leave an audit event.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from playwright.sync_api import Page, expect

from raxx.common.aio import run_sync
from raxx.common.db import libpq_url
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase
from raxx.local.up import Topology
from tests.console.conftest import PASSWORD, RunningRaptor, raptor_tokens, raptors
from tests.fixtures.apps import add_user, console_app, write_registry
from tests.fixtures.browser import screenshot
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.oidc import FAULTS, IDP_PASSWORD, RunningProvider, audit_events, oidc_settings, start_provider
from tests.fixtures.servers import ThreadedServer
from tests.fixtures.topology import DEMO_PASSWORD, running_topology, topology_options

pytestmark = pytest.mark.browser
__all__ = ["raptors"]


@dataclass
class SsoConsole:
    url: str
    db: ProvisionedDatabase
    idp: RunningProvider


@pytest.fixture(scope="module")
def sso_console(
    test_databases: DatabaseFactory, raptors: dict[str, RunningRaptor], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SsoConsole]:
    db = test_databases.fresh("console")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    idp = start_provider([url + "/login/oidc/callback"])
    registry = write_registry(
        tmp_path_factory.mktemp("sso") / "environments.toml", {env: r.url for env, r in raptors.items()}
    )

    async def team() -> None:
        await add_user(db, "glass", PASSWORD, {"staging": "admin", "prod": "admin"}, break_glass=True)
        await add_user(db, "alice", PASSWORD, {"staging": "admin", "prod": "admin"})

    run_sync(team)
    server = ThreadedServer(console_app(db, registry, raptor_tokens(raptors), **oidc_settings(idp.issuer)), port)
    server.start()
    try:
        yield SsoConsole(url, db, idp)
    finally:
        server.stop()
        idp.server.stop()


def sign_in_with_provider(page: Page, console: SsoConsole, user: str) -> None:
    """From the console's sign-in page through the provider's form; wherever the console then lands."""
    page.goto(console.url + "/login")
    page.click("#sso-sign-in")
    provider_form(page, console, user)


def provider_form(page: Page, console: SsoConsole, user: str) -> None:
    page.wait_for_url(re.compile(re.escape(console.idp.issuer) + r"/authorize\?.*"))
    page.fill("#idp-username", user)
    page.fill("#idp-password", IDP_PASSWORD)
    page.click("#idp-sign-in")
    page.wait_for_url(re.compile(re.escape(console.url) + "/.*"))


def test_sign_in_maps_groups_to_roles_per_environment(page: Page, sso_console: SsoConsole) -> None:
    sign_in_with_provider(page, sso_console, "stella")
    page.wait_for_url(sso_console.url + "/staging/")
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "staging")
    expect(page.locator("body")).to_contain_text("stella@example.com")
    denied = page.goto(sso_console.url + "/prod/")
    assert denied is not None
    assert denied.status == 403  # a staging operator: nothing in prod, never by default
    screenshot(page, "sso-staging-operator-in-prod")

    page.context.clear_cookies()
    sign_in_with_provider(page, sso_console, "paul")
    page.wait_for_url(sso_console.url + "/staging/")
    prod = page.goto(sso_console.url + "/prod/orders/new")
    assert prod is not None
    assert prod.status == 200
    expect(page.locator("#place-order")).to_be_visible()
    events = [e for e in audit_events(sso_console.db) if e["actor"] == "paul@example.com"]
    assert events[-1]["params"]["method"] == "oidc"
    assert events[-1]["outcome"] == "ok"


@pytest.mark.parametrize("fault", [*sorted(FAULTS), "unknown_group"])
def test_each_bad_sign_in_is_refused_with_a_clear_page_and_an_audit_event(
    page: Page, sso_console: SsoConsole, fault: str
) -> None:
    user = "mallory" if fault == "unknown_group" else "paul"
    code = "oidc_no_role" if fault == "unknown_group" else FAULTS[fault]
    if fault == "replayed_nonce":  # a sign-in that completes, whose nonce the next token reuses
        sign_in_with_provider(page, sso_console, "paul")
        page.wait_for_url(sso_console.url + "/staging/")
        page.context.clear_cookies()
    if fault != "unknown_group":
        sso_console.idp.provider.fault = fault
    sign_in_with_provider(page, sso_console, user)
    panel = page.locator(f"[data-error={code}]")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("Sign-in refused")
    expect(page.locator("#retry-sign-in")).to_be_visible()
    screenshot(page, f"sso-refused-{fault}")
    still_out = page.goto(sso_console.url + "/staging/")
    assert still_out is not None
    assert still_out.url.startswith(sso_console.url + "/login")
    last = audit_events(sso_console.db)[-1]
    assert (last["action"], last["outcome"]) == ("auth.login", "denied")
    assert last["error"].startswith(code)


def test_a_prod_action_after_an_old_sign_in_steps_up_and_returns_to_its_confirmation(
    page: Page, sso_console: SsoConsole, raptors: dict[str, RunningRaptor]
) -> None:
    sign_in_with_provider(page, sso_console, "paul")
    page.wait_for_url(sso_console.url + "/staging/")
    with psycopg.connect(libpq_url(sso_console.db.owner_url), autocommit=True) as conn:
        conn.execute("UPDATE console_session SET auth_time = now() - interval '20 minutes'")
    page.goto(sso_console.url + "/prod/orders/new")
    page.fill("input[name=symbol]", "MSFT")
    page.check("input[name=side][value=buy]")
    page.check("input[name=type][value=limit]")
    page.fill("input[name=quantity]", "7")
    page.fill("input[name=limit_price]", "3.50")
    page.click("#place-order")

    # The provider asks for the password again (prompt=login), though its own session is live.
    provider_form(page, sso_console, "paul")
    page.wait_for_url(re.compile(re.escape(sso_console.url) + "/login/oidc/resume/.*"))
    expect(page.locator("[data-confirm='order.place']")).to_be_visible()
    expect(page.locator("#confirm-target")).to_have_text("BUY 7 MSFT @ 3.5")
    expect(page.locator("#env-banner")).to_have_attribute("data-env", "prod")
    screenshot(page, "sso-step-up-confirmation")
    with raptors["prod"].direct() as direct:
        assert "MSFT" not in direct.get("/v1/orders").text  # nothing acted on the way

    page.fill("#typed-env", "prod")
    page.fill("#typed-target", "BUY 7 MSFT @ 3.5")
    page.click("#confirm-action")
    page.wait_for_url(re.compile(rf"{sso_console.url}/prod/orders/[0-9a-f-]{{36}}(\?.*)?$"))
    expect(page.locator("#order-status")).to_have_text("new")
    placed = [e for e in audit_events(sso_console.db, "order.place") if e["params"].get("acted") is not False]
    assert placed[-1]["params"]["auth_method"] == "oidc"


def test_break_glass_password_sign_in_works_is_audited_and_alerts(page: Page, sso_console: SsoConsole) -> None:
    page.goto(sso_console.url + "/login")
    page.click("#break-glass summary")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("#break-glass button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Password sign-in is off")

    page.fill("input[name=username]", "glass")
    page.fill("input[name=password]", PASSWORD)
    page.click("#break-glass button[type=submit]")
    page.wait_for_url(sso_console.url + "/staging/")
    events = audit_events(sso_console.db)
    assert [(e["action"], e["outcome"]) for e in events[-3:]] == [
        ("auth.login", "denied"),
        ("auth.break_glass", "ok"),
        ("auth.login", "ok"),
    ]


def test_sign_out_ends_the_provider_session_too(page: Page, sso_console: SsoConsole) -> None:
    sign_in_with_provider(page, sso_console, "stella")
    page.wait_for_url(sso_console.url + "/staging/")
    page.click("form.logout button")
    page.wait_for_url(sso_console.url + "/login")
    page.click("#sso-sign-in")  # the provider asks again: its session ended with the console's
    expect(page.locator("#idp-username")).to_be_visible()


@pytest.fixture(scope="module")
def oidc_demo_topology(test_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """``raxx up --oidc-demo``: the same code path, its own databases and free ports."""
    options = topology_options(
        test_databases,
        tmp_path_factory.mktemp("raxx-up-oidc"),
        oidc_demo=True,
        oidc_port=free_port(),
        monitor=False,
        database_prefix=f"rxt_{test_databases.run_id}_oidcup",
    )
    with running_topology(test_databases.admin_url, options, "topology-oidc-demo.log") as top:
        yield top


def test_raxx_up_oidc_demo_signs_in_its_staging_and_prod_operators(page: Page, oidc_demo_topology: Topology) -> None:
    base = oidc_demo_topology.url("console-prod")
    issuer = oidc_demo_topology.url("oidc-demo")
    for user, prod_status in (("stella", 403), ("paul", 200)):
        page.context.clear_cookies()
        page.goto(base + "/login")
        expect(page.locator("#sso-sign-in")).to_have_text("Sign in with the demo identity provider")
        page.click("#sso-sign-in")
        page.wait_for_url(re.compile(re.escape(issuer) + r"/authorize\?.*"))
        page.fill("#idp-username", user)
        page.fill("#idp-password", DEMO_PASSWORD)
        page.click("#idp-sign-in")
        page.wait_for_url(base + "/staging/")
        expect(page.locator("body")).to_contain_text(f"{user}@example.com")
        prod = page.goto(base + "/prod/")
        assert prod is not None
        assert prod.status == prod_status
    # The local demo sign-in stays, as a break-glass account.
    page.context.clear_cookies()
    page.goto(base + "/login")
    page.click("#break-glass summary")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#break-glass button[type=submit]")
    page.wait_for_url(base + "/staging/")
