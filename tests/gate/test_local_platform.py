"""The local platform's file protocol with the supervisor, and its identity confirmation."""

from __future__ import annotations

import json

import pytest

from raxx.common.provision import ProvisionedDatabase
from raxx.gate.platform.base import PlatformError
from tests.fixtures.gate import LocalTopology, gate_context, local_platform


async def test_deploy_writes_desired_waits_for_applied_and_confirms_identity(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.migrating_releases.add("r3")
    async with gate_context(ledger_db) as ctx:
        platform = local_platform(ctx, fake_topology)
        outcome = await platform.deploy("raptor-prod", "r3")
        current = await platform.current_release("raptor-prod")
    desired = json.loads((fake_topology.supervisor.data_dir / "run" / "desired" / "raptor-prod.json").read_text())
    assert desired["release"] == "r3"
    assert desired["request_id"] == outcome.request_id
    assert outcome.migrations_ran is True
    assert current == "r3"


async def test_a_supervisor_refusal_is_a_platform_error_with_its_reason(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.fail_releases["r4"] = "alembic: can't locate revision"
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(PlatformError, match="can't locate revision"):
            await local_platform(ctx, fake_topology).deploy("raptor-staging", "r4")
    assert fake_topology.services["raptor-staging"].release == "r0"


async def test_no_supervisor_answer_times_out_with_a_clear_error(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.silent = True
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(PlatformError, match=r"no answer from the supervisor in 0.5 s.*is `raxx up` running"):
            await local_platform(ctx, fake_topology, timeout=0.5).deploy("raptor-staging", "r5")


async def test_a_service_that_keeps_answering_the_old_release_fails_the_deploy(
    ledger_db: ProvisionedDatabase, fake_topology: LocalTopology
) -> None:
    fake_topology.supervisor.lying = True  # says ok, but the process still reports the old release
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(PlatformError, match="its identity says r0, not r6"):
            await local_platform(ctx, fake_topology, timeout=1.0).deploy("raptor-staging", "r6")


async def test_an_unknown_service_is_refused(ledger_db: ProvisionedDatabase, fake_topology: LocalTopology) -> None:
    async with gate_context(ledger_db) as ctx:
        with pytest.raises(PlatformError, match="not in the topology"):
            await local_platform(ctx, fake_topology).deploy("console-staging", "r1")
