"""The harness's memory quota: a dyno's memory is what its whole process group holds, and a
dyno over its quota gets Heroku's R14 lines in its app's log."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.heroku.dyno import Dyno
from tests.heroku.manifest import read_app_json
from tests.heroku.memory import MemoryWatch, dyno_mb, group_pids, quota_mb

REPO_ROOT = Path(__file__).resolve().parents[2]
#: A dyno of two processes (a parent and a forked child), each holding 64 MiB of its own.
TWO_HOLDERS = (
    f'{sys.executable} -c "import os, time; os.fork(); held = bytes(range(256)) * (2**18); '
    "print('holding', flush=True); time.sleep(60)\""
)


def dyno(tmp_path: Path, command: str) -> Dyno:
    return Dyno(
        app="raxx-test",
        name="web.1",
        command=command,
        port=0,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        log_path=tmp_path / "web.1.log",
        events=tmp_path / "heroku.log",
    )


def test_app_json_sizes_the_dynos_basic_with_heroku_s_512_mb() -> None:
    assert quota_mb(read_app_json(REPO_ROOT / "app.json").dyno_size) == 512
    with pytest.raises(ValueError, match="unknown dyno size 'huge'"):
        quota_mb("huge")


def test_a_dyno_s_memory_counts_every_process_of_its_group(tmp_path: Path) -> None:
    holders = dyno(tmp_path, TWO_HOLDERS)
    holders.start()
    try:
        deadline = time.monotonic() + 20
        while holders.log_path.read_text().count("holding") < 2:  # both have written their 64 MiB
            assert time.monotonic() < deadline, holders.tail()
            time.sleep(0.1)
        assert holders.pid is not None
        assert len(group_pids(holders.pid)) == 2  # the parent (bash execs it) and its forked child
        mb = dyno_mb(holders.pid)
    finally:
        holders.stop(timeout=5)
    assert 128 <= mb < 256, mb  # both children's 64 MiB, each counted once


def test_a_dyno_over_its_quota_gets_r14_in_its_log_every_20_s(tmp_path: Path) -> None:
    watched = dyno(tmp_path, "true")
    watch = MemoryWatch(lambda: [], quota_mb=512)
    watch.sample(watched, 300.0)
    watch.sample(watched, 594.0)
    watch.sample(watched, 600.0)  # within 20 s of the last R14: not repeated
    assert watch.peaks_mb == {"raxx-test web.1": 600.0}
    assert watch.r14 == {"raxx-test web.1": 1}
    lines = (tmp_path / "heroku.log").read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "Process running mem=594M(116.0%)",
        "Error R14 (Memory quota exceeded)",
    ]
