"""Two console processes appending at once still make one linear chain with no gaps."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.provision import ProvisionedDatabase
from raxx.console.audit.verify import verify_chain
from tests.console.audit.helpers import worker_process

PER_PROCESS = 300
TASKS = 4


async def test_two_processes_hammering_appends_leave_one_valid_chain(
    console_db: ProvisionedDatabase, runtime_engine: AsyncEngine, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    workers = [
        worker_process("append", console_db.runtime_url, str(PER_PROCESS), str(TASKS), str(go)) for _ in range(2)
    ]
    # Both start together, once both have imported and connected: the append lock, not
    # luck, must order them (under load one process could otherwise finish before the
    # other one has even started).
    deadline = time.monotonic() + 90
    while len(list(tmp_path.glob("ready-*"))) < len(workers):
        assert time.monotonic() < deadline, "the worker processes did not get ready"
        assert all(w.poll() is None for w in workers), "a worker process exited before the start"
        time.sleep(0.02)
    go.touch()
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()

    with psycopg.connect(console_db.runtime_url) as conn:
        seqs = [row[0] for row in conn.execute("SELECT seq FROM audit_event ORDER BY seq")]
        writers = conn.execute("SELECT count(DISTINCT split_part(actor_name, '-', 2)) FROM audit_event").fetchone()
        distinct_prev = conn.execute("SELECT count(DISTINCT prev_hash) FROM audit_event").fetchone()
        interleaved = conn.execute(
            "SELECT count(*) FROM (SELECT split_part(actor_name, '-', 2) <> "
            "lag(split_part(actor_name, '-', 2)) OVER (ORDER BY seq) AS switched FROM audit_event) s "
            "WHERE switched"
        ).fetchone()
    assert seqs == list(range(1, 2 * PER_PROCESS + 1))
    assert writers == (2,)
    assert distinct_prev == (2 * PER_PROCESS,)
    assert interleaved is not None
    assert interleaved[0] > 1, "the two processes never overlapped; the test proved nothing"
    report = await verify_chain(runtime_engine)
    assert report.ok, report.summary()
    assert report.count == 2 * PER_PROCESS
