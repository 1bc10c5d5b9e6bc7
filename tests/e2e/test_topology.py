"""The topology of ``raxx up``, started through the same code, probed over real HTTP."""

from __future__ import annotations

import json
import os
import time

import httpx
import psycopg
import pytest

from raxx.local.up import Topology
from tests.fixtures.apps import csrf_from
from tests.fixtures.topology import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_each_raptor_reports_its_own_environment_and_database(topology: Topology) -> None:
    staging = httpx.get(topology.url("raptor-staging") + "/v1/identity").json()
    prod = httpx.get(topology.url("raptor-prod") + "/v1/identity").json()
    assert staging["environment"] == "staging"
    assert prod["environment"] == "prod"
    assert staging["database"] != prod["database"]
    assert staging["database"].endswith(staging["database"].split(":")[1])
    for name in ("raptor-staging", "raptor-prod", "console-prod"):
        assert httpx.get(topology.url(name) + "/readyz").status_code == 200


def test_staging_credentials_cannot_open_prods_database(topology: Topology) -> None:
    staging = topology.databases.raptor["staging"]
    prod = topology.databases.raptor["prod"]
    assert staging.database != prod.database
    wrong = staging.runtime_url.rsplit("/", 1)[0] + "/" + prod.database
    with pytest.raises(psycopg.OperationalError, match=r"permission denied|not permitted"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_topology_file_names_every_service(topology: Topology) -> None:
    payload = json.loads((topology.data_dir / "run" / "topology.json").read_text())
    services = payload["services"]
    assert {"raptor-staging", "raptor-prod", "console-prod"} <= set(services)
    assert services["raptor-prod"]["environment"] == "prod"
    assert services["console-prod"]["url"] == topology.url("console-prod")


def test_login_switch_and_banner_through_the_real_console(topology: Topology) -> None:
    with httpx.Client(base_url=topology.url("console-prod"), follow_redirects=False) as client:
        page = client.get("/login")
        done = client.post(
            "/login", data={"username": "demo", "password": DEMO_PASSWORD, "csrf_token": csrf_from(page.text)}
        )
        assert done.status_code == 303
        staging = client.get("/staging/")
        assert 'data-env="staging"' in staging.text
        assert 'data-backend-env="staging"' in staging.text
        form = {"csrf_token": csrf_from(staging.text), "from_env": "staging", "to_env": "prod", "next": "/"}
        assert 'data-confirm="switch"' in client.post("/switch", data=form).text
        moved = client.post("/switch", data={**form, "confirmed": "yes"})
        assert moved.headers["location"] == "/prod/"
        prod = client.get("/prod/")
        assert "<title>[PROD]" in prod.text
        assert 'data-backend-env="prod"' in prod.text


def test_a_deploy_request_restarts_the_service_with_the_new_release(topology: Topology) -> None:
    """The supervisor's side of the gate's local platform protocol."""
    run = topology.data_dir / "run"
    (run / "desired").mkdir(exist_ok=True)
    (run / "desired" / "raptor-staging.json").write_text(json.dumps({"release": "e2e-r2", "request_id": "req-e2e-1"}))
    topology.supervisor.tick()
    applied = json.loads((run / "applied" / "raptor-staging.json").read_text())
    assert applied["ok"] is True, applied
    assert applied["request_id"] == "req-e2e-1"
    assert httpx.get(topology.url("raptor-staging") + "/v1/identity").json()["release"] == "e2e-r2"
    topology.supervisor.tick()  # the same request is not applied twice
    assert json.loads((run / "applied" / "raptor-staging.json").read_text())["applied_at"] == applied["applied_at"]


def test_identity_mismatch_is_refused_when_staging_url_points_at_prod(topology: Topology) -> None:
    """Misconfigure the registry (staging -> prod's port), restart the console, see it refuse."""
    registry = topology.data_dir / "environments.toml"
    original = registry.read_text()
    staging_url, prod_url = topology.url("raptor-staging"), topology.url("raptor-prod")
    registry.write_text(original.replace(f'raptor_url = "{staging_url}"', f'raptor_url = "{prod_url}"'))
    try:
        topology.supervisor.stop_child("console-prod")
        topology.supervisor.start("console-prod")
        topology.supervisor.wait_ready("console-prod")
        with httpx.Client(base_url=topology.url("console-prod")) as client:
            page = client.get("/login")
            client.post(
                "/login", data={"username": "demo", "password": DEMO_PASSWORD, "csrf_token": csrf_from(page.text)}
            )
            health = client.get("/staging/health").text
            assert 'data-identity="misconfigured"' in health
            assert "MISCONFIGURED" in health
            assert 'data-backend-env="prod"' in client.get("/prod/").text
    finally:
        registry.write_text(original)
        topology.supervisor.stop_child("console-prod")
        topology.supervisor.start("console-prod")
        topology.supervisor.wait_ready("console-prod")


def test_stopping_leaves_no_process_behind(test_databases, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from raxx.local.up import start_topology
    from tests.fixtures.topology import drop_topology_databases, topology_options

    options = topology_options(test_databases, tmp_path, database_prefix=f"rxt_{test_databases.run_id}_stop")
    top = start_topology(options, out=open(os.devnull, "w"))  # noqa: SIM115
    try:
        pids = [c.process.pid for c in top.supervisor.children.values() if c.process]
        assert len(pids) >= 3
    finally:
        top.stop()
        drop_topology_databases(test_databases.admin_url, options.database_prefix)
    time.sleep(0.2)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_env_file_lets_the_gate_act_on_this_topology(topology: Topology) -> None:
    """``raxx up`` leaves what ``raxx gate`` needs: ledger, topology, policy, a smoke token.

    (Every other README command on it: ``tests/e2e/test_readme.py``.)
    """
    import subprocess
    import sys

    from raxx.common.secrets import parse_dotenv

    values = parse_dotenv((topology.data_dir / "raxx.env").read_text())
    assert values["GATE_PLATFORM"] == "local"
    token = values["GATE_CONSOLE_SMOKE_TOKEN"]
    for env in ("staging", "prod"):
        read = httpx.get(
            topology.url("console-prod") + f"/api/{env}/orders?limit=1", headers={"Authorization": f"Bearer {token}"}
        )
        assert read.status_code == 200, read.text
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    board = subprocess.run(
        [sys.executable, "-m", "raxx", "gate", "board", "--json"],
        capture_output=True,
        text=True,
        env={**base, **values},
        timeout=120,
    )
    assert board.returncode == 0, board.stderr
    services = {d["service"] for d in json.loads(board.stdout)["deployments"]}
    assert {"raptor-staging", "raptor-prod"} <= services


def test_a_second_start_runs_the_deployed_release_at_once_and_records_no_failed_sample(
    test_databases,  # type: ignore[no-untyped-def]
    tmp_path,
) -> None:
    """Restarting ``raxx up`` keeps what the gate deployed, without a detour, and the monitor stays honest."""
    import threading
    from datetime import UTC, datetime

    from raxx.local.up import start_topology
    from tests.fixtures.topology import drop_topology_databases, topology_options

    options = topology_options(
        test_databases, tmp_path, database_prefix=f"rxt_{test_databases.run_id}_again", monitor_interval=0.3
    )
    log = tmp_path / "up.log"
    try:
        with log.open("w") as out:
            first = start_topology(options, out=out)
            try:
                desired = first.data_dir / "run" / "desired"
                desired.mkdir(exist_ok=True)
                (desired / "raptor-staging.json").write_text(json.dumps({"release": "kept-r1", "request_id": "r-1"}))
                first.supervisor.tick()
            finally:
                first.stop()
            restarted_at = datetime.now(UTC)
            second = start_topology(options, out=out)
            loop = threading.Thread(target=second.supervisor.run_forever, args=(0.1,), daemon=True)
            loop.start()
            try:
                assert second.supervisor.children["raptor-staging"].spec.release == "kept-r1"
                ledger = second.databases.ledger
                assert ledger is not None
                rows: list[tuple[object, ...]] = []
                deadline = time.monotonic() + 60
                while len(rows) < 9 and time.monotonic() < deadline:  # three rounds of the monitor
                    time.sleep(0.3)
                    with psycopg.connect(ledger.runtime_url) as conn:
                        rows = conn.execute(
                            "SELECT deployment, ok, reason FROM health_sample WHERE observed_at >= %s",
                            (restarted_at,),
                        ).fetchall()
                assert httpx.get(second.url("raptor-staging") + "/v1/identity").json()["release"] == "kept-r1"
                assert second.supervisor.children["raptor-staging"].restarts == 0
            finally:
                second.stop()
                loop.join(timeout=10)
        # the first run's deploy, and no replay of it by the second run
        assert log.read_text().count("deploying release") == 1
        assert len(rows) >= 9, "the monitor did not poll"
        assert [r for r in rows if not r[1]] == []  # every deployment was up before the monitor began
    finally:
        drop_topology_databases(test_databases.admin_url, options.database_prefix)


def test_checkpoints_verify_against_the_public_key_the_console_publishes(topology: Topology, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``raxx up`` generated the Ed25519 key; an outsider fetches the public key and needs no secret."""
    import subprocess
    import sys

    url = topology.url("console-prod") + "/.well-known/raxx-audit-keys.json"
    served = httpx.get(url)  # no sign-in: a public key is public
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/json")
    (current,) = served.json()["keys"]
    assert current["status"] == "current"
    assert current["public_key"].startswith("ed25519:")
    assert "private" not in served.text
    console_db = topology.databases.console
    checkpoints = tmp_path / "checkpoints.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "GATE_", "RAPTOR_"))}

    def raxx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "raxx", "audit", *args, "--database-url", console_db.runtime_url],
            capture_output=True,
            text=True,
            env=clean,
            timeout=120,
        )

    made = raxx("checkpoint", "--export", str(checkpoints), "--env-file", str(topology.data_dir / "secrets.env"))
    assert made.returncode == 0, made.stderr
    assert json.loads(checkpoints.read_text().splitlines()[-1])["key_id"] == current["key_id"]
    verified = raxx(
        "verify",
        "--no-record",
        "--checkpoint",
        str(checkpoints),
        "--public-key",
        url,
        "--env-file",
        str(tmp_path / "none"),
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("OK: ")
