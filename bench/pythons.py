"""The same servers under several Pythons, side by side in one run: ``--pythons 3.11,3.13`` of
``raptor_orders.py`` and ``console_proxy.py``. Each version runs from its own virtualenv
(``.venvs/X.Y``, made by ``scripts/install --no-link`` when missing or stale); every round
measures each version back to back (the order alternating from round to round), and the report
gives each version against the first: the ratio of medians and the median of per-round
ratios, which moves less on this shared machine, and the servers' CPU per request
(``cpu_seconds``, from ``/proc``), which moves least."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx workers, uvicorn's process)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for root in pids:
        for pid in _tree(root):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@dataclass
class Measured:
    rate: float  # requests (or orders) per second
    p50_ms: float
    cpu_us: float = math.nan  # server CPU per request, where the benchmark measures it


def venvs(spec: str) -> dict[str, Path]:
    """``"3.11,3.13"`` -> each version's interpreter, its venv installed; the first is the baseline."""
    out: dict[str, Path] = {}
    for version in (v.strip() for v in spec.split(",") if v.strip()):
        done = subprocess.run(
            [str(ROOT / "scripts" / "install"), "--no-link"],
            env={**os.environ, "RAXX_PYTHON": version},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr.strip() or f"scripts/install failed for Python {version}")
        out[version] = ROOT / ".venvs" / version / "bin" / "python"
    if len(out) < 2:
        raise SystemExit("--pythons compares at least two versions, e.g. --pythons 3.11,3.13")
    return out


def describe(pythons: dict[str, Path]) -> str:
    """``3.11.7, 3.13.0`` (what made each venv), and the load average now."""
    made = [(python.parents[1] / ".raxx-python").read_text().split()[0] for python in pythons.values()]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"Python {', '.join(made)}; load average {load}"


def in_turn(versions: list[str], round_no: int) -> list[str]:
    """The order of the versions in a round: alternating, so neither always goes first."""
    return versions if round_no % 2 == 0 else versions[::-1]


def report(results: dict[str, dict[str, list[Measured]]], unit: str) -> None:
    """``measure -> version -> rounds``: each version's medians against the first version's."""
    for measure, by_version in results.items():
        versions = list(by_version)
        base = by_version[versions[0]]
        base_rate = statistics.median(m.rate for m in base)
        print(f"\n== {measure} (ratios vs Python {versions[0]})")
        print(f"{'python':<8}{unit:>10}{'ratio':>8}{'per-round':>10}{'p50 ms':>8}{'CPU us/req':>11}  per-round ratios")
        for version in versions:
            rounds = by_version[version]
            rate = statistics.median(m.rate for m in rounds)
            per_round = [m.rate / b.rate for m, b in zip(rounds, base, strict=True)]
            print(
                f"{version:<8}{rate:>10.0f}{rate / base_rate:>8.3f}{statistics.median(per_round):>10.3f}"
                f"{statistics.median(m.p50_ms for m in rounds):>8.2f}"
                f"{statistics.median(m.cpu_us for m in rounds):>11.0f}  {' '.join(f'{x:.2f}' for x in per_round)}"
            )
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
