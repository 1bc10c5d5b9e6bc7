"""The Heroku platform against a local fake of the Platform API (real HTTP on loopback):
builds from git, promotions pinned to the soaked release, rollbacks, release phases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from raxx.common.errors import ConfigError
from raxx.gate.platform.base import PlatformError
from raxx.gate.platform.heroku import HerokuLayout, HerokuPlatform
from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.source import GitSource
from tests.fixtures.fake_heroku import FakeHeroku
from tests.fixtures.gitrepo import Checkout, make_checkout
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import serve

pytestmark = LOOPBACK_ONLY

APPS = {"raptor-staging": "acme-raptor-staging", "raptor-prod": "acme-raptor-prod", "console-prod": "acme-console"}


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return make_checkout(tmp_path / "checkout")


@dataclass
class Heroku:
    fake: FakeHeroku
    platform: HerokuPlatform
    url: str


@pytest.fixture
async def heroku(checkout: Checkout) -> AsyncIterator[Heroku]:
    fake = FakeHeroku()
    fake.add_app("acme-raptor-staging", pipeline="pipe-1", stage="staging")
    fake.add_app("acme-raptor-prod", pipeline="pipe-1", stage="production")
    fake.add_app("acme-console", pipeline="pipe-1", stage="production")
    with serve(fake.app()) as server:
        fake.base_url = server.url
        client = HerokuClient(fake.token, base_url=server.url, timeout_s=5)
        layout = HerokuLayout(
            apps=APPS,
            promote_from={"raptor-prod": "raptor-staging", "console-prod": "raptor-staging"},
            builds=frozenset({"raptor-staging"}),
        )
        platform = HerokuPlatform(client, layout, source=GitSource(checkout.path), timeout=20, poll_s=0.01)
        try:
            yield Heroku(fake, platform, server.url)
        finally:
            await platform.aclose()


async def test_staging_builds_the_commit_from_git_and_waits_for_the_release_phase(
    heroku: Heroku, checkout: Checkout
) -> None:
    a = checkout.a
    heroku.fake.migrations[a] = True
    outcome = await heroku.platform.deploy("raptor-staging", a)

    assert heroku.fake.commit_of("acme-raptor-staging") == a
    assert (outcome.service, outcome.release, outcome.migrations_ran) == ("raptor-staging", a, True)
    [build] = heroku.fake.builds.values()
    assert build.version == a
    assert outcome.request_id == build.id
    assert await heroku.platform.current_release("raptor-staging") == a


async def test_the_source_digest_is_what_heroku_verifies(checkout: Checkout) -> None:
    a, b = checkout.a, checkout.b
    source = GitSource(checkout.path)
    first, again, other = source.pack(a), source.pack(a), source.pack(b)
    assert first.data == again.data  # reproducible: CI's --artifact and the build's checksum agree
    assert first.digest != other.digest
    assert first.heroku_checksum == "SHA256:" + first.sha256
    assert source.pack(a[:12]).commit == a
    with pytest.raises(ConfigError, match="not in the checkout"):
        source.pack("0" * 40)
    with pytest.raises(ConfigError, match="not a commit id"):
        source.pack("main; rm -rf /")


async def test_deploying_what_already_runs_changes_nothing(heroku: Heroku, checkout: Checkout) -> None:
    a = checkout.a
    await heroku.platform.deploy("raptor-staging", a)
    releases_before = len(heroku.fake.releases["acme-raptor-staging"])
    outcome = await heroku.platform.deploy("raptor-staging", a)
    assert len(heroku.fake.releases["acme-raptor-staging"]) == releases_before
    assert outcome.migrations_ran is False


async def test_prod_gets_the_exact_soaked_release_even_after_staging_moved_on(
    heroku: Heroku, checkout: Checkout
) -> None:
    a, b = checkout.a, checkout.b
    soaked = heroku.fake.seed_release("acme-raptor-staging", a)
    heroku.fake.seed_release("acme-raptor-staging", b)  # newer: what staging runs now
    outcome = await heroku.platform.deploy("raptor-prod", a)

    [promotion] = heroku.fake.promotions.values()
    assert promotion.source_release == soaked.id  # pinned, not "staging's current release"
    assert promotion.targets == ["acme-raptor-prod"]
    prod = heroku.fake.current("acme-raptor-prod")
    assert prod is not None
    assert prod.slug_id == soaked.slug_id  # the same artifact, byte for byte
    assert heroku.fake.commit_of("acme-raptor-staging") == b
    assert (outcome.release, outcome.request_id) == (a, promotion.id)


async def test_the_console_gets_staging_s_slug_too(heroku: Heroku, checkout: Checkout) -> None:
    a = checkout.a
    soaked = heroku.fake.seed_release("acme-raptor-staging", a)
    await heroku.platform.deploy("console-prod", a)
    console = heroku.fake.current("acme-console")
    assert console is not None
    assert console.slug_id == soaked.slug_id


async def test_rolling_back_creates_a_release_from_the_earlier_one(heroku: Heroku, checkout: Checkout) -> None:
    a, b = checkout.a, checkout.b
    earlier = heroku.fake.seed_release("acme-raptor-prod", a)
    heroku.fake.seed_release("acme-raptor-prod", b)
    outcome = await heroku.platform.deploy("raptor-prod", a)

    current = heroku.fake.current("acme-raptor-prod")
    assert current is not None
    assert current.description == f"Rollback to v{earlier.version}"
    assert current.slug_id == earlier.slug_id
    assert heroku.fake.promotions == {}
    post = [c for c in heroku.fake.calls if c[0] == "POST"]
    assert [c[1] for c in post] == ["/apps/acme-raptor-prod/releases"]
    assert outcome.release == a


async def test_a_failed_release_phase_is_a_platform_error_and_the_old_release_keeps_running(
    heroku: Heroku, checkout: Checkout
) -> None:
    a, b = checkout.a, checkout.b
    heroku.fake.seed_release("acme-raptor-staging", b)
    heroku.fake.seed_release("acme-raptor-prod", a)
    heroku.fake.failing_release_phase.add("acme-raptor-prod")
    with pytest.raises(PlatformError, match="release phase, which runs the migrations, did not pass"):
        await heroku.platform.deploy("raptor-prod", b)
    assert heroku.fake.commit_of("acme-raptor-prod") == a


async def test_a_failed_promotion_target_says_why(heroku: Heroku, checkout: Checkout) -> None:
    a = checkout.a
    heroku.fake.seed_release("acme-raptor-staging", a)
    heroku.fake.failing_promotion_targets.add("acme-raptor-prod")
    with pytest.raises(PlatformError, match="failed: Release phase failed on the target"):
        await heroku.platform.deploy("raptor-prod", a)


async def test_after_a_failed_release_phase_staging_releases_the_build_again(
    heroku: Heroku, checkout: Checkout
) -> None:
    a = checkout.a
    heroku.fake.failing_release_phase.add("acme-raptor-staging")
    with pytest.raises(PlatformError):
        await heroku.platform.deploy("raptor-staging", a)
    await heroku.platform.deploy("raptor-staging", a)  # the migration was fixed by hand; try again
    assert len(heroku.fake.builds) == 1  # not rebuilt
    assert heroku.fake.commit_of("acme-raptor-staging") == a


async def test_a_commit_nowhere_is_refused_with_a_reason(heroku: Heroku, checkout: Checkout) -> None:
    a = checkout.a
    with pytest.raises(PlatformError, match="deploy it to staging first"):
        await heroku.platform.deploy("raptor-prod", a)
    with pytest.raises(PlatformError, match="no Heroku app configured for raptor-qa"):
        await heroku.platform.deploy("raptor-qa", a)


async def test_apps_in_different_pipelines_are_refused(heroku: Heroku, checkout: Checkout) -> None:
    a = checkout.a
    heroku.fake.seed_release("acme-raptor-staging", a)
    heroku.fake.couplings["acme-raptor-prod"] = ("pipe-other", "production")
    with pytest.raises(PlatformError, match="not in the same Heroku pipeline"):
        await heroku.platform.deploy("raptor-prod", a)


async def test_release_history_is_paged_with_range_and_next_range(heroku: Heroku, checkout: Checkout) -> None:
    a, b = checkout.a, checkout.b
    oldest = heroku.fake.seed_release("acme-raptor-prod", a)
    for _ in range(4):
        heroku.fake.seed_release("acme-raptor-prod", b)
    heroku.fake.page_size = 2
    releases = await heroku.platform.client.releases("acme-raptor-prod", limit=50)
    assert [r.version for r in releases] == [5, 4, 3, 2, 1]
    ranges = [c[2].get("range") for c in heroku.fake.calls if c[1].endswith("/releases")]
    assert ranges == [
        "version ..; order=desc, max=50;",
        "version ]4..; order=desc, max=2;",
        "version ]2..; order=desc, max=2;",
    ]
    outcome = await heroku.platform.deploy("raptor-prod", a)  # found on the last page
    assert heroku.fake.current("acme-raptor-prod").slug_id == oldest.slug_id  # type: ignore[union-attr]
    assert outcome.release == a


async def test_every_call_carries_the_version_3_accept_header_and_the_bearer_token(
    heroku: Heroku, checkout: Checkout
) -> None:
    a = checkout.a
    await heroku.platform.deploy("raptor-staging", a)
    assert heroku.fake.calls
    for _method, _path, headers in heroku.fake.calls:
        assert headers["accept"] == "application/vnd.heroku+json; version=3"
        assert headers["authorization"] == f"Bearer {heroku.fake.token}"
    assert heroku.platform.client.rate_limit_remaining == heroku.fake.remaining


def test_the_layout_comes_from_settings() -> None:
    from raxx.gate.config import GateSettings
    from raxx.gate.context import heroku_platform

    settings = GateSettings(
        database_url="postgresql://x@127.0.0.1/x",
        platform="heroku",
        heroku_apps=json.loads(json.dumps(APPS)),
        heroku_api_token="tok",  # type: ignore[arg-type]
    )
    platform = heroku_platform(settings)
    assert platform.layout.app("raptor-prod") == "acme-raptor-prod"
    assert dict(platform.layout.promote_from) == {"raptor-prod": "raptor-staging", "console-prod": "raptor-staging"}
    with pytest.raises(ConfigError, match="GATE_HEROKU_API_TOKEN"):
        heroku_platform(GateSettings(database_url="postgresql://x@h/x", platform="heroku", heroku_apps=APPS))
    with pytest.raises(ConfigError, match="GATE_HEROKU_APPS"):
        heroku_platform(
            GateSettings(database_url="postgresql://x@h/x", platform="heroku", heroku_api_token="t")  # type: ignore[arg-type]
        )


def test_ci_names_heroku_urls_with_gate_url_variables() -> None:
    from raxx.gate.policy import load_policy
    from raxx.gate.topology import Locator, url_variable
    from tests.fixtures.gate import POLICY_FILE

    policy = load_policy(POLICY_FILE)
    environ = {url_variable("raptor-prod"): "https://acme-raptor-prod.herokuapp.com/"}
    locator = Locator(policy, None, environ)
    assert url_variable("raptor-prod") == "GATE_URL_RAPTOR_PROD"
    assert locator.url("raptor", "prod") == "https://acme-raptor-prod.herokuapp.com"
    assert locator.url("raptor", "staging") == policy.environment("raptor", "staging").url
    services = {s.service: s.url for s in locator.services()}
    assert services["raptor-prod"] == "https://acme-raptor-prod.herokuapp.com"


async def test_heroku_commands_print_the_digest_and_the_release_history(heroku: Heroku, checkout: Checkout) -> None:
    from click.testing import CliRunner

    from raxx.gate.heroku_commands import heroku as heroku_group

    a, b = checkout.a, checkout.b
    heroku.fake.seed_release("acme-raptor-prod", a)
    heroku.fake.seed_release("acme-raptor-prod", b)
    runner = CliRunner()
    digest = runner.invoke(heroku_group, ["source-digest", "--commit", a, "--repo", str(checkout.path)])
    assert digest.output.strip() == GitSource(checkout.path).pack(a).digest
    env = {"GATE_HEROKU_API_TOKEN": heroku.fake.token, "GATE_HEROKU_API_URL": heroku.url}
    listing = await asyncio.to_thread(
        runner.invoke, heroku_group, ["releases", "--app", "acme-raptor-prod", "--json"], env=env
    )
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)
    assert [(r["version"], r["commit"], r["current"]) for r in rows] == [(2, b, True), (1, a, False)]
