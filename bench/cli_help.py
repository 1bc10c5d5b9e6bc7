"""How long ``raxx --help`` (and a few other answers that touch no database) take to start.

Side by side in one run, interleaved rounds, medians: the interpreter doing nothing
(``python -c pass``, the baseline), ``python -c "import click"`` (the floor a click CLI
cannot go below), and ``raxx --help``, ``raxx gate --help``, ``raxx audit --help`` and
``raxx --version`` as processes. With ``--base REV`` the same help from the sources of
REV (``git archive``, on ``PYTHONPATH``) runs in the same rounds: before and after.

    .venv/bin/python bench/cli_help.py [--rounds 21] [--base db43151]

The goal (issue 19): ``raxx --help`` under 0.5 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MS = 500.0


def _commands(base_src: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    py = sys.executable
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    commands = {
        "python -c pass": ([py, "-c", "pass"], env),
        "python -c 'import click'": ([py, "-c", "import click"], env),
        "raxx --help": ([py, "-m", "raxx", "--help"], env),
        "raxx gate --help": ([py, "-m", "raxx", "gate", "--help"], env),
        "raxx audit --help": ([py, "-m", "raxx", "audit", "--help"], env),
        "raxx --version": ([py, "-m", "raxx", "--version"], env),
    }
    if base_src is not None:
        commands["raxx --help (base)"] = ([py, "-m", "raxx", "--help"], {**env, "PYTHONPATH": str(base_src)})
    return commands


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def _base_sources(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--base", help="a git revision to compare `raxx --help` with (before/after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base_src = _base_sources(args.base, Path(scratch)) if args.base else None
        commands = _commands(base_src)
        for argv, env in commands.values():  # warm the page cache and the .pyc files
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (argv, env) in commands.items():
                times[name].append(_time(argv, env))
    baseline = times["python -c pass"]
    base_median = statistics.median(baseline)
    print(f"{args.rounds} interleaved rounds after one warm-up; ms; ratios against `python -c pass`")
    print(f"{'command':<28}{'median':>9}{'p90':>9}{'ratio':>8}{'per-round ratio':>17}")
    for name, samples in times.items():
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        paired = statistics.median(s / b for s, b in zip(samples, baseline, strict=True))
        print(f"{name:<28}{median:>9.1f}{p90:>9.1f}{median / base_median:>8.2f}{paired:>17.2f}")
    help_median = statistics.median(times["raxx --help"])
    verdict = "met" if help_median < GOAL_MS else "NOT met"
    print(f"goal `raxx --help` < {GOAL_MS:.0f} ms: {verdict} ({help_median:.0f} ms)")


if __name__ == "__main__":
    main()
