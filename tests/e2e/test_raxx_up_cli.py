"""``raxx up`` as a user runs it: embedded PostgreSQL, Ctrl-C, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from raxx.common.pgembed import free_port

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes once reaped by init
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_ctrl_c_stops_every_child_and_the_embedded_postgres(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPTOR_", "CONSOLE_", "GATE_"))}
    env["RAXX_DEMO_PASSWORD"] = "ctrl c passphrase 2026"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raxx",
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            "--console-port",
            str(ports[0]),
            "--staging-port",
            str(ports[1]),
            "--prod-port",
            str(ports[2]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    assert any("Raxx is up" in line for line in lines), "".join(lines[-30:])
    assert any("demo / ctrl c passphrase 2026" in line for line in lines)
    topology = json.loads((tmp_path / "data" / "run" / "topology.json").read_text())
    pids = [s["pid"] for s in topology["services"].values() if s["pid"]]
    postmaster = int((tmp_path / "data" / "pg" / "pgdata" / "postmaster.pid").read_text().split()[0])
    assert httpx.get(f"http://127.0.0.1:{ports[1]}/v1/identity").json()["environment"] == "staging"

    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest[-2000:]
    assert "stopped; no process left behind" in rest
    time.sleep(0.3)
    leftovers = [pid for pid in [*pids, postmaster] if _alive(pid)]
    assert leftovers == []
