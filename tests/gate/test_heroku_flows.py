"""The gate's flows on the Heroku platform: push to staging builds, the soaked commit is
promoted to prod through the pipeline, a failed smoke check rolls prod back on Heroku.

Heroku is the local fake Platform API; the deployments' HTTP answers come from the gate
tests' fake services, whose release moves when a fake release phase passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from raxx.common.clock import FrozenClock
from raxx.common.provision import ProvisionedDatabase
from raxx.common.secrets import EnvironSecrets
from raxx.gate.checks.gate import GateRequest
from raxx.gate.context import GateContext, open_context
from raxx.gate.flows import deploy_flow, promote_flow
from raxx.gate.platform.heroku import HerokuLayout, HerokuPlatform
from raxx.gate.platform.heroku_api import HerokuClient
from raxx.gate.platform.source import GitSource
from raxx.gate.policy import load_policy
from raxx.gate.records import approve
from raxx.gate.verdict import ExitCode
from tests.fixtures.fake_heroku import FakeHeroku
from tests.fixtures.gate import POLICY_FILE, SMOKE_TOKEN, T0, LocalTopology, add_samples, gate_settings
from tests.fixtures.gitrepo import Checkout, make_checkout
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import serve
from tests.gate.test_heroku_platform import APPS

pytestmark = LOOPBACK_ONLY
SERVICES = {app: service for service, app in APPS.items()}


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return make_checkout(tmp_path / "checkout")


@asynccontextmanager
async def heroku_gate(
    db: ProvisionedDatabase, topology: LocalTopology, checkout: Path, clock: FrozenClock
) -> AsyncIterator[tuple[GateContext, FakeHeroku]]:
    fake = FakeHeroku()
    fake.add_app("acme-raptor-staging", pipeline="pipe", stage="staging")
    fake.add_app("acme-raptor-prod", pipeline="pipe", stage="production")
    fake.add_app("acme-console", pipeline="pipe", stage="production")

    def dyno_restarted(app: str, commit: str) -> None:
        topology.services[SERVICES[app]].release = commit

    fake.on_release = dyno_restarted
    with serve(fake.app()) as server:
        fake.base_url = server.url
        platform = HerokuPlatform(
            HerokuClient(fake.token, base_url=server.url),
            HerokuLayout(
                apps=APPS, promote_from={"raptor-prod": "raptor-staging"}, builds=frozenset({"raptor-staging"})
            ),
            source=GitSource(checkout),
            timeout=20,
            poll_s=0.01,
        )
        settings = gate_settings(db, topology_file=topology.topology_file)
        async with open_context(
            settings,
            policy=load_policy(POLICY_FILE),
            clock=clock,
            platform=platform,
            secrets=EnvironSecrets({"GATE_CONSOLE_SMOKE_TOKEN": SMOKE_TOKEN}),
        ) as ctx:
            try:
                yield ctx, fake
            finally:
                await platform.aclose()


def request(release_id: str, env: str, **kw: object) -> GateRequest:
    values: dict[str, object] = {
        "app": "raptor",
        "environment": env,
        "release_id": release_id,
        "trigger": "push" if env == "staging" else "tag",
        "tag": None if env == "staging" else "v1.0.0",
        "actor": "carol",
    }
    values.update(kw)
    return GateRequest(**values)  # type: ignore[arg-type]


async def push(ctx: GateContext, checkout: Path, commit: str) -> None:
    digest = GitSource(checkout).pack(commit).digest
    result = await deploy_flow(ctx, request(commit, "staging", commit=commit, artifact_digest=digest, actor="alice"))
    assert result.exit_code is ExitCode.PASS, result.summary


async def test_push_soak_approve_promote_on_heroku(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, checkout: Checkout
) -> None:
    a, b = checkout.a, checkout.b
    repo = checkout.path
    clock = FrozenClock(T0)
    async with heroku_gate(ledger_db, fake_topology, repo, clock) as (ctx, fake):
        await push(ctx, repo, a)
        start = clock.now()
        clock.advance(timedelta(hours=25))
        await add_samples(ctx, "raptor-staging", start, clock.now(), release=a)
        await push(ctx, repo, b)  # staging moves on while the release owner approves a
        await approve(ctx, app="raptor", environment="prod", release_id=a, approver="bob", comment=None)
        result = await promote_flow(ctx, request(a, "prod", commit=a))

    assert result.exit_code is ExitCode.PASS, result.summary
    assert fake.commit_of("acme-raptor-prod") == a
    assert fake.commit_of("acme-raptor-staging") == b
    [promotion] = fake.promotions.values()
    staging_a = next(r for r in fake.releases["acme-raptor-staging"] if fake.slugs[r.slug_id]["commit"] == a)  # type: ignore[index]
    assert promotion.source_release == staging_a.id
    assert fake_topology.services["raptor-prod"].release == a
    assert result.release is not None
    assert result.release.artifact_digest == GitSource(repo).pack(a).digest


async def test_a_failed_smoke_check_after_promotion_rolls_prod_back_on_heroku(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, checkout: Checkout
) -> None:
    a, b = checkout.a, checkout.b
    repo = checkout.path
    clock = FrozenClock(T0)
    async with heroku_gate(ledger_db, fake_topology, repo, clock) as (ctx, fake):
        await push(ctx, repo, a)
        clock.advance(timedelta(hours=25))
        await add_samples(ctx, "raptor-staging", clock.now() - timedelta(hours=25), clock.now(), release=a)
        await approve(ctx, app="raptor", environment="prod", release_id=a, approver="bob", comment=None)
        first = await promote_flow(ctx, request(a, "prod", commit=a))
        assert first.exit_code is ExitCode.PASS, first.summary

        await push(ctx, repo, b)
        clock.advance(timedelta(hours=25))
        await add_samples(ctx, "raptor-staging", clock.now() - timedelta(hours=25), clock.now(), release=b)
        await approve(ctx, app="raptor", environment="prod", release_id=b, approver="bob", comment=None)
        fake_topology.services["raptor-prod"].broken_releases.add(b)
        result = await promote_flow(ctx, request(b, "prod", commit=b, tag="v1.1.0"))

    assert result.exit_code is ExitCode.ROLLED_BACK, result.summary
    assert fake.commit_of("acme-raptor-prod") == a
    last = fake.current("acme-raptor-prod")
    assert last is not None
    assert last.description.startswith("Rollback to v1")
    assert fake_topology.services["raptor-prod"].release == a


async def test_a_failed_release_phase_is_a_failed_deploy_in_the_ledger(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology, checkout: Checkout
) -> None:
    a, repo = checkout.a, checkout.path
    async with heroku_gate(ledger_db, fake_topology, repo, FrozenClock(T0)) as (ctx, fake):
        fake.failing_release_phase.add("acme-raptor-staging")
        digest = GitSource(repo).pack(a).digest
        result = await deploy_flow(ctx, request(a, "staging", commit=a, artifact_digest=digest))
    assert result.exit_code is ExitCode.DEPLOY_FAILED
    assert "release phase" in result.summary
    assert fake_topology.services["raptor-staging"].release == "r0"
