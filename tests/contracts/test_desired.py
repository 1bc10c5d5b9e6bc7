"""``run/desired/`` and ``run/applied/``, version 1: each written by one side, read by the other through one model."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from raxx.common.contracts.desired import AppliedRelease, DesiredRelease, UnreadableDeployFile
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.platform.base import PlatformError
from raxx.local.supervisor import Supervisor
from tests.fixtures.gate import gate_context, local_platform, local_topology


async def test_the_local_platform_writes_a_version_1_request(ledger_db: ProvisionedDatabase, tmp_path: Path) -> None:
    with local_topology(tmp_path / "data") as topology:
        async with gate_context(ledger_db) as ctx:
            outcome = await local_platform(ctx, topology).deploy("raptor-prod", "r3")
    written = json.loads((tmp_path / "data" / "run" / "desired" / "raptor-prod.json").read_text())
    assert written["version"] == 1
    desired = DesiredRelease.read(written)
    assert (desired.version, desired.release, desired.request_id) == (1, "r3", outcome.request_id)
    assert desired.requested_at is not None
    assert desired.requested_at.tzinfo is not None


def _supervise(run_dir: Path, request: dict[str, object]) -> tuple[dict[str, object], str]:
    """One pass of a supervisor with no services over one request; its answer and what it said."""
    (run_dir / "desired").mkdir(parents=True)
    (run_dir / "desired" / "raptor-staging.json").write_text(json.dumps(request))
    out = io.StringIO()
    Supervisor(run_dir, out=out).tick()
    return json.loads((run_dir / "applied" / "raptor-staging.json").read_text()), out.getvalue()


def test_the_supervisor_refuses_an_unknown_version_with_a_clear_error(tmp_path: Path) -> None:
    applied, said = _supervise(tmp_path / "run", {"version": 2, "release": "r9", "request_id": "q1", "wave": 3})
    assert AppliedRelease.read(applied) == AppliedRelease.model_validate(applied)
    assert (applied["version"], applied["ok"], applied["request_id"]) == (1, False, "q1")
    assert "deploy request version 2 is not understood by this supervisor (it reads version 1)" in str(applied["error"])
    assert "deploy request q1 refused" in said


def test_the_supervisor_reads_a_request_without_version_as_version_1(tmp_path: Path) -> None:
    applied, _ = _supervise(tmp_path / "run", {"release": "r1", "request_id": "q2"})
    # Read and carried out: the deploy itself fails only because this supervisor runs no such service.
    assert applied["error"] == "no service named 'raptor-staging' in this topology"


def test_a_version_1_request_without_its_release_is_refused_by_name() -> None:
    with pytest.raises(UnreadableDeployFile, match=r"not a version 1 deploy request \(check: release\)"):
        DesiredRelease.read({"version": 1, "request_id": "q3"})


async def test_the_local_platform_refuses_an_answer_of_an_unknown_version(
    ledger_db: ProvisionedDatabase, tmp_path: Path
) -> None:
    run = tmp_path / "data" / "run"

    async def answer_in_version_2() -> None:
        while not (run / "desired" / "raptor-prod.json").exists():
            await asyncio.sleep(0.02)
        request = json.loads((run / "desired" / "raptor-prod.json").read_text())
        (run / "applied").mkdir(parents=True, exist_ok=True)
        answer = {"version": 2, "request_id": request["request_id"], "ok": True}
        (run / "applied" / "raptor-prod.json").write_text(json.dumps(answer))

    with local_topology(tmp_path / "data") as topology:
        topology.supervisor.silent = True
        async with gate_context(ledger_db) as ctx:
            with pytest.raises(PlatformError, match=r"deploy answer version 2 is not understood by this gate"):
                await asyncio.gather(local_platform(ctx, topology).deploy("raptor-prod", "r3"), answer_in_version_2())
