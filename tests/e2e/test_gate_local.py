"""The release gate end to end under ``raxx up``: the real supervisor restarts real Raptor
processes, the real monitor samples them, the soak runs on an accelerated clock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from raxx.common.clock import FrozenClock, SystemClock
from raxx.common.secrets import EnvironSecrets
from raxx.gate.checks.gate import GateRequest
from raxx.gate.config import GateSettings
from raxx.gate.context import GateContext, open_context
from raxx.gate.flows import deploy_flow, promote_flow
from raxx.gate.ledger.models import HealthSample, Release
from raxx.gate.policy import Policy, load_policy
from raxx.gate.records import approve, freeze
from raxx.gate.retire_flow import retire_check_flow
from raxx.gate.verdict import ExitCode, Status
from raxx.local.up import Topology, start_topology
from tests.fixtures.database import DatabaseFactory
from tests.fixtures.gate import POLICY_FILE, add_samples
from tests.fixtures.output import output_dir
from tests.fixtures.topology import drop_topology_databases, topology_options

pytestmark = pytest.mark.e2e
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def gate_topology(test_databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """A topology of our own: deploys restart its processes, so it is not shared."""
    options = topology_options(test_databases, tmp_path_factory.mktemp("gate-up"), monitor_interval=0.5)
    options.database_prefix = f"rxt_{test_databases.run_id}_gate"
    log = output_dir()
    with (log / "gate-topology.log").open("w") as out:
        top = start_topology(options, out=out)
        loop = threading.Thread(target=top.supervisor.run_forever, args=(0.2,), daemon=True)
        loop.start()
        try:
            yield top
        finally:
            top.stop()
            loop.join(timeout=10)
            drop_topology_databases(test_databases.admin_url, options.database_prefix)


def _policy(*, prod_smoke: tuple[str, ...]) -> Policy:
    """The repository's policy with smoke checks the console can pass before its API lands."""
    policy = load_policy(POLICY_FILE)
    envs = policy.apps["raptor"].environments
    envs["staging"] = replace(envs["staging"], smoke=("identity", "readyz"))
    envs["prod"] = replace(envs["prod"], smoke=prod_smoke)
    return policy


def _context(top: Topology, clock: FrozenClock | SystemClock, policy: Policy):  # type: ignore[no-untyped-def]
    assert top.databases.ledger is not None
    settings = GateSettings(
        database_url=top.databases.ledger.runtime_url,
        policy_file=POLICY_FILE,
        topology_file=Path(top.data_dir) / "run" / "topology.json",
        deploy_timeout=120,
        audit_database_url=top.databases.console.runtime_url,
    )
    # A bogus console token: the console refuses it, so a console smoke check fails for real.
    return open_context(settings, policy=policy, clock=clock, secrets=EnvironSecrets({"GATE_CONSOLE_SMOKE_TOKEN": "x"}))


def _identity(top: Topology, service: str) -> str:
    return str(httpx.get(top.url(service) + "/v1/identity", timeout=5).json()["release"])


async def _wait_for_monitor(ctx: GateContext, release: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with ctx.sessions() as session:
            seen = await session.scalar(
                select(HealthSample)
                .where(
                    HealthSample.deployment == "raptor-staging", HealthSample.release_seen == release, HealthSample.ok
                )
                .limit(1)
            )
        if seen is not None:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"the monitor recorded no healthy sample of {release}")


async def _deploy_and_soak(ctx: GateContext, clock: FrozenClock, release: str) -> None:
    result = await deploy_flow(
        ctx,
        GateRequest(
            app="raptor",
            environment="staging",
            release_id=release,
            trigger="push",
            actor="alice",
            commit=f"{release}-sha",
            artifact_digest=f"sha256:{release}",
        ),
    )
    assert result.exit_code is ExitCode.PASS, result.as_dict()
    await _wait_for_monitor(ctx, release)
    start = clock.now()
    clock.set(start + 25 * H)  # a day of soak in milliseconds: the monitor's samples, then synthetic ones
    await add_samples(ctx, "raptor-staging", start + timedelta(minutes=1), clock.now(), release=release)
    await approve(ctx, app="raptor", environment="prod", release_id=release, approver="bob", comment="e2e")


async def test_deploy_soak_approve_promote_then_failed_smoke_rolls_back(gate_topology: Topology) -> None:
    top = gate_topology
    clock = FrozenClock(SystemClock().now())
    promote = GateRequest(app="raptor", environment="prod", release_id="e2e-r1", trigger="dispatch", actor="carol")
    async with _context(top, clock, _policy(prod_smoke=("identity", "readyz"))) as ctx:
        await _deploy_and_soak(ctx, clock, "e2e-r1")
        assert _identity(top, "raptor-staging") == "e2e-r1"
        shipped = await promote_flow(ctx, promote)
        assert shipped.exit_code is ExitCode.PASS, shipped.as_dict()
        assert _identity(top, "raptor-prod") == "e2e-r1"

        await _deploy_and_soak(ctx, clock, "e2e-r2")
    async with _context(top, clock, _policy(prod_smoke=("identity", "readyz", "console_proxy"))) as ctx:
        failed = await promote_flow(ctx, replace(promote, release_id="e2e-r2"))
        async with ctx.sessions() as session:
            prod = list(
                await session.scalars(select(Release).where(Release.environment == "prod").order_by(Release.seq))
            )
    assert failed.exit_code is ExitCode.ROLLED_BACK, failed.as_dict()
    assert "console_proxy[prod]" in failed.summary
    assert _identity(top, "raptor-prod") == "e2e-r1"
    assert [(r.release_id, r.trigger, r.status) for r in prod] == [
        ("e2e-r1", "dispatch", "succeeded"),
        ("e2e-r2", "dispatch", "rolled_back"),
        ("e2e-r1", "rollback", "succeeded"),
    ]


async def test_freeze_blocks_promotion_and_retire_check_reads_real_evidence(gate_topology: Topology) -> None:
    top = gate_topology
    clock = FrozenClock(SystemClock().now())
    async with _context(top, clock, _policy(prod_smoke=("identity", "readyz"))) as ctx:
        await freeze(ctx, environment="prod", until=clock.now() + H, reason="e2e freeze", actor="cfo")
        blocked = await promote_flow(
            ctx, GateRequest(app="raptor", environment="prod", release_id="e2e-r1", trigger="dispatch", actor="carol")
        )
        verdict = await retire_check_flow(ctx, "console-staging", actor="rita")
    assert blocked.exit_code is ExitCode.BLOCKED
    assert blocked.report is not None
    assert any(r.name == "freeze" and "e2e freeze" in r.reason for r in blocked.report.results)
    items = {r.name: r for r in verdict.results}
    assert verdict.exit_code is ExitCode.BLOCKED
    assert items["feature_in_prod"].status is Status.FAIL
    assert items["prod_health"].evidence["samples"] > 0  # the real monitor's console samples
    assert items["smoke_staging"].status is Status.FAIL  # the console refuses the bogus token
