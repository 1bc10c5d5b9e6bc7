"""Benchmark: ``gate check`` against a ledger holding a year of health samples per deployment.

A year at a 30 s interval is 1,051,200 samples per deployment (three deployments, about
3.2 M rows), loaded set-wise with ``generate_series``. Reports medians of interleaved
rounds and the ratio against a trivial baseline query on the same connection pool.

    RAXX_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/gate_check.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scratch import scratch_database
from sqlalchemy import text

from raxx.common.clock import FrozenClock
from raxx.common.secrets import EnvironSecrets
from raxx.gate.checks.gate import GateRequest
from raxx.gate.config import GateSettings
from raxx.gate.context import GateContext, open_context
from raxx.gate.flows import check_flow
from raxx.gate.policy import load_policy
from raxx.gate.retire_flow import retire_check_flow

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / "deploy" / "policy.toml"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
DEPLOYMENTS = ("raptor-staging", "raptor-prod", "console-prod")
#: The newest staging deploy: current for the last ~2 days, so its soak is complete.
LAST_DEPLOY = (NOW - timedelta(days=2)).replace(hour=6)


async def load(ctx: GateContext) -> float:
    """A year of samples for every deployment, a deploy a day on staging, approvals; returns seconds."""
    started = time.perf_counter()
    async with ctx.sessions() as session:
        for deployment in DEPLOYMENTS:
            # One release per day on staging: release_seen follows the day's release.
            await session.execute(
                text(
                    "INSERT INTO health_sample (deployment, observed_at, ok, latency_ms, release_seen, reason) "
                    "SELECT CAST(:d AS text), t, (random() > 0.001), 5 + random() * 20, "
                    "CASE WHEN CAST(:staging AS boolean) "
                    "THEN 'r' || to_char(least(t - interval '6 hours', CAST(:last AS timestamptz)), 'YYYYMMDD') "
                    "ELSE 'stable' END, NULL "
                    "FROM generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz), "
                    "interval '30 seconds') AS t"
                ),
                {
                    "d": deployment,
                    "staging": deployment == "raptor-staging",
                    "last": LAST_DEPLOY,
                    "start": NOW - YEAR,
                    "end": NOW,
                },
            )
        await session.execute(
            text(
                "INSERT INTO release (id, app, environment, release_id, commit, artifact_digest, deployed_at, "
                "deployed_by, trigger, status, ran_migrations, features) "
                "SELECT gen_random_uuid(), 'raptor', 'staging', 'r' || to_char(d, 'YYYYMMDD'), md5(d::text), "
                "'sha256:' || md5(d::text), d + interval '6 hours', 'ci-bot', 'push', 'succeeded', false, '{}' "
                "FROM generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz), interval '1 day') AS d"
            ),
            {"start": (NOW - YEAR).replace(hour=0), "end": LAST_DEPLOY.replace(hour=0)},
        )
        await session.commit()
    async with ctx.engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


async def timed(label: str, func, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await func()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(ctx: GateContext, rounds: int) -> dict[str, list[float]]:
    soaked = (NOW - timedelta(days=2)).strftime("r%Y%m%d")
    request = GateRequest(app="raptor", environment="prod", release_id=soaked, trigger="dispatch", actor="carol")
    results: dict[str, list[float]] = {"baseline": [], "gate_check": [], "retire_check": []}

    async def baseline() -> None:
        async with ctx.sessions() as session:
            await session.execute(text("SELECT 1"))

    async def gate_check() -> None:
        report = await check_flow(ctx, request)
        assert report.soak is not None
        assert report.soak.elapsed > timedelta(hours=24), report.as_dict()

    async def retire() -> None:
        await retire_check_flow(ctx, "console-staging", actor="bench")

    for func in (baseline, gate_check, retire):  # warm-up: plans, pool, caches
        await func()
    for _ in range(rounds):  # interleaved rounds
        results["baseline"] += await timed("baseline", baseline, 1)
        results["gate_check"] += await timed("gate_check", gate_check, 1)
        results["retire_check"] += await timed("retire_check", retire, 1)
    return results


def cli_wall_time(url: str, rounds: int) -> list[float]:
    soaked = (NOW - timedelta(days=2)).strftime("r%Y%m%d")
    env = {**os.environ, "GATE_DATABASE_URL": url, "GATE_POLICY_FILE": str(POLICY), "PYTHONPATH": str(REPO / "src")}
    args = [
        sys.executable,
        "-m",
        "raxx",
        "gate",
        "check",
        "--app",
        "raptor",
        "--env",
        "prod",
        "--release",
        soaked,
        "--trigger",
        "dispatch",
        "--by",
        "carol",
        "--json",
    ]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(args, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def main(args: argparse.Namespace) -> None:
    with scratch_database("ledger") as db:
        settings = GateSettings(database_url=db.owner_url, policy_file=POLICY)
        async with open_context(
            settings, policy=load_policy(POLICY), clock=FrozenClock(NOW), secrets=EnvironSecrets({})
        ) as ctx:
            seconds = await load(ctx)
            async with ctx.sessions() as session:
                rows = (await session.execute(text("SELECT count(*) FROM health_sample"))).scalar_one()
            print(f"loaded {rows:,} samples ({rows // len(DEPLOYMENTS):,} per deployment) in {seconds:.1f} s")
            results = await measure(ctx, args.rounds)
        results["cli_wall"] = cli_wall_time(db.runtime_url, args.cli_rounds)
        base = statistics.median(results["baseline"])
        print(f"{'measure':<14} {'median ms':>10} {'p90 ms':>8} {'ratio vs baseline':>18}")
        for label, times in results.items():
            med = statistics.median(times)
            p90 = sorted(times)[int(len(times) * 0.9) - 1]
            print(f"{label:<14} {med:>10.2f} {p90:>8.2f} {med / base:>18.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--cli-rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
