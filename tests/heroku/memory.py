"""Heroku's memory quota, kept as the dyno manager keeps it.

A dyno's memory is everything its processes hold (Heroku reads the dyno container's
``memory_total``: resident plus swapped). Over the quota of its size (512 MB for Eco,
Basic and Standard-1X, Dev Center "Dyno Types"), the dyno is not stopped: it swaps and slows,
and its log says, about every 20 s while it stays over::

    heroku[web.1]: Process running mem=594M(116.0%)
    heroku[web.1]: Error R14 (Memory quota exceeded)

Here a thread samples every running dyno once a second: the proportional set size (PSS:
pages shared by a dyno's processes, such as uvicorn's forked workers, counted once across
them, as a container's memory counts them) of every process in the dyno's process group,
writes those lines to the app's ``heroku.log`` in the same words, and keeps each dyno's
peak for the scenario to check. (R15, a dyno killed at a multiple of its quota, is not
reproduced: an app that reaches R14 has already failed the check.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.heroku.dyno import Dyno

#: Memory quota by dyno size, in MB (Dev Center, "Dyno Types").
QUOTA_MB = {
    "eco": 512,
    "basic": 512,
    "standard-1x": 512,
    "standard-2x": 1024,
    "performance-m": 2560,
    "performance-l": 14336,
}
R14_EVERY_S = 20.0  # how often Heroku repeats the R14 lines while a dyno stays over


def quota_mb(size: str) -> int:
    try:
        return QUOTA_MB[size]
    except KeyError:
        raise ValueError(f"app.json: unknown dyno size {size!r} (known: {', '.join(QUOTA_MB)})") from None


def group_pids(pgid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process whose process group is ``pgid`` (a dyno's: it starts its own session)."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
            after_comm = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(after_comm[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def process_kb(pid: int, proc: Path = Path("/proc")) -> int:
    """A process's proportional set size plus its swap, in kB (its resident size when the
    kernel has no ``smaps_rollup``); 0 for a process that is gone."""
    fields = {"Pss:": 0, "SwapPss:": 0}
    try:
        for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(" ")
            if name in fields:
                fields[name] = int(rest.split()[0])
        return fields["Pss:"] + fields["SwapPss:"]
    except FileNotFoundError:
        return _resident_kb(pid, proc)
    except (OSError, ValueError, IndexError):
        return 0


def _resident_kb(pid: int, proc: Path) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dyno_mb(pgid: int) -> float:
    return sum(process_kb(pid) for pid in group_pids(pgid)) / 1024


class MemoryWatch:
    """Samples ``dynos()`` every ``every_s`` seconds until ``stop()``; ``peaks_mb`` by
    ``"<app> <dyno>"``; R14 lines in each app's log while a dyno is over ``quota_mb``."""

    def __init__(self, dynos: Callable[[], Iterable[Dyno]], *, quota_mb: int, every_s: float = 1.0) -> None:
        self.dynos = dynos
        self.quota_mb = quota_mb
        self.every_s = every_s
        self.peaks_mb: dict[str, float] = {}
        self.r14: dict[str, int] = {}
        self._last_r14: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heroku-memory", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for dyno in list(self.dynos()):
                if dyno.running() and dyno.pid is not None:
                    self.sample(dyno, dyno_mb(dyno.pid))

    def sample(self, dyno: Dyno, mb: float) -> None:
        key = f"{dyno.app} {dyno.name}"
        self.peaks_mb[key] = max(self.peaks_mb.get(key, 0.0), mb)
        if mb <= self.quota_mb:
            return
        now = time.monotonic()
        if now - self._last_r14.get(key, -R14_EVERY_S) < R14_EVERY_S:
            return
        self._last_r14[key] = now
        self.r14[key] = self.r14.get(key, 0) + 1
        dyno.event(f"Process running mem={mb:.0f}M({100 * mb / self.quota_mb:.1f}%)")
        dyno.event("Error R14 (Memory quota exceeded)")
