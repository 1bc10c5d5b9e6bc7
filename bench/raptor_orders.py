"""Raptor's order path against two baselines, side by side in one run.

    python bench/raptor_orders.py [--rounds 3] [--seconds 5]
    python bench/raptor_orders.py --pythons 3.11,3.13 [--rounds 3] [--seconds 4]

Starts, on free ports against the test PostgreSQL (``RAXX_TEST_DATABASE_URL``, else
127.0.0.1:5432): Raptor (``raxx raptor serve``, paper broker, its own migrated
database) and the minimal FastAPI + psycopg 3 insert endpoint
(``bench/minimal_insert_app.py``). Runs ``pgbench`` inserting one row into the same
server. Every scenario runs once per round, rounds interleaved; medians are reported
with ratios. Bounded: each measurement lasts ``--seconds``; everything started is
stopped and every database created is dropped at the end.

With ``--pythons``, Raptor alone, once under each of those Pythons (``bench/pythons.py``: each
version's ``.venvs/X.Y``), all on the same database: its order submission (c8, c32) and list
(c8), each version against the first, rounds interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg
import pythons

from raxx.common.db import libpq_url
from raxx.common.migrations import upgrade
from raxx.common.pgembed import free_port, pg_binary
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database
from raxx.raptor.token.service import issue_token_sync

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLE = (
    "CREATE TABLE orders (id serial PRIMARY KEY, symbol text, qty integer, price numeric(12,4), created_at timestamptz)"
)
PGBENCH_SCRIPT = (
    "\\set qty random(1, 1000)\n"
    "INSERT INTO orders (symbol, qty, price, created_at) VALUES ('AAPL', :qty, 123.45, now()) "
    "RETURNING id, created_at;\n"
)


@dataclass
class Sample:
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    unexpected: dict[int, int] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    group: str
    connections: int
    run: Callable[[int], Sample]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _http_load(
    url: str, method: str, body: bytes | None, headers: dict[str, str], conns: int, seconds: int, expect: int
) -> Sample:
    latencies: list[float] = []
    unexpected: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as session:
        deadline = loop.time() + seconds

        async def worker() -> None:
            while loop.time() < deadline:
                started = time.perf_counter()
                async with session.request(method, url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != expect:
                        unexpected[response.status] += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = loop.time()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = loop.time() - began
    return Sample(
        len(latencies) / elapsed,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        sum(unexpected.values()),
        dict(unexpected),
    )


WRK_SCRIPT = """
wrk.method = {method}
{body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua(value: str) -> str:
    return "[==[" + value + "]==]"


def wrk_load(
    url: str, method: str, body: bytes | None, headers: dict[str, str], conns: int, seconds: int, script_dir: Path
) -> Sample:
    """wrk counts any non-2xx/3xx as an error, which is what every scenario here expects."""
    script = script_dir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(
        WRK_SCRIPT.format(
            method=_lua(method),
            body=f"wrk.body = {_lua(body.decode())}" if body else "",
            headers="\n".join(f"wrk.headers[ {_lua(k)} ] = {_lua(v)}" for k, v in headers.items()),
        )
    )
    out = subprocess.run(
        ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    if "RESULT " not in out.stdout:
        raise RuntimeError(f"wrk printed no result: {out.stdout} {out.stderr}")
    requests, duration_us, p50_us, p99_us, errors = (int(x) for x in out.stdout.split("RESULT ")[1].split())
    return Sample(requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors)


@dataclass
class LoadGenerator:
    use_wrk: bool
    script_dir: Path

    def scenario(
        self, url: str, method: str, body: bytes | None, headers: dict[str, str], seconds: int, expect: int
    ) -> Callable[[int], Sample]:
        def run(conns: int) -> Sample:
            if self.use_wrk:
                return wrk_load(url, method, body, headers, conns, seconds, self.script_dir)
            return asyncio.run(_http_load(url, method, body, headers, conns, seconds, expect))

        return run


def pgbench_scenario(dsn: str, seconds: int, workdir: Path) -> Callable[[int], Sample]:
    binary = shutil.which("pgbench") or pg_binary("pgbench")
    script = workdir / "insert.sql"
    script.write_text(PGBENCH_SCRIPT)

    def run(conns: int) -> Sample:
        logdir = Path(tempfile.mkdtemp(dir=workdir))
        out = subprocess.run(
            [
                binary,
                "-n",
                "-M",
                "prepared",
                "-f",
                str(script),
                "-c",
                str(conns),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-l",
                f"--log-prefix={logdir}/pgb",
                dsn,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
        tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
        latencies = [int(line.split()[2]) / 1000 for f in logdir.iterdir() for line in f.read_text().splitlines()]
        shutil.rmtree(logdir)
        return Sample(tps, percentile(latencies, 0.5), percentile(latencies, 0.99), 0)

    return run


LOG_DIR = ROOT / "test-output" / "bench"


@contextmanager
def server(
    args: list[str], env: dict[str, str], port: int, log_name: str, pids: list[int] | None = None
) -> Iterator[str]:
    """Start a server process, wait until it answers, stop it (by its own pid) at the end.
    Its output goes to ``test-output/bench/<log_name>.log``; its pid is added to ``pids``."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / f"{log_name}.log").open("w")
    process = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    if pids is not None:
        pids.append(process.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                asyncio.run(_get(f"{base}/healthz" if "raxx" in args else f"{base}/openapi.json"))
                break
            except (aiohttp.ClientError, OSError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{args} did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def _get(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()


@contextmanager
def databases(admin_url: str) -> Iterator[tuple[ProvisionedDatabase, ProvisionedDatabase]]:
    run = secrets.token_hex(3)
    names = {"raptor": f"rxbench_{run}_raptor", "minimal": f"rxbench_{run}_min"}
    owner, runtime = f"rxbench_{run}_owner", f"rxbench_{run}_app"
    made = {
        key: provision_database(
            admin_url, database=name, owner=owner, owner_password=run + "o", runtime=runtime, runtime_password=run + "r"
        )
        for key, name in names.items()
    }
    try:
        upgrade("raptor", made["raptor"].owner_url, runtime_url=made["raptor"].runtime_url)
        with psycopg.connect(made["minimal"].owner_url, autocommit=True) as conn:
            conn.execute(TABLE)
        yield made["raptor"], made["minimal"]
    finally:
        for name in names.values():
            drop_database(admin_url, name)
        for role in (runtime, owner):
            drop_role(admin_url, role)


ORDER = b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1"}'


def raptor_env(db: ProvisionedDatabase) -> dict[str, str]:
    return {
        "RAPTOR_ENVIRONMENT": "staging",
        "RAPTOR_DATABASE_URL": db.runtime_url,
        "RAPTOR_RELEASE": "bench",
        "RAPTOR_PAPER_STARTING_CASH": "1000000000000",
        "PYTHONPATH": str(ROOT / "src"),
    }


def scenarios(
    load: LoadGenerator, raptor: str, minimal: str, token: str, pg_dsn: str, seconds: int, workdir: Path
) -> list[Scenario]:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Raxx-Actor": "bench"}
    submit = load.scenario(f"{raptor}/v1/orders", "POST", ORDER, auth, seconds, 201)
    insert = load.scenario(
        f"{minimal}/orders",
        "POST",
        b'{"symbol":"AAPL","qty":7,"price":"123.45"}',
        {"Content-Type": "application/json"},
        seconds,
        201,
    )
    pgbench = pgbench_scenario(pg_dsn, seconds, workdir)
    get = {"Authorization": f"Bearer {token}"}
    out = []
    for conns in (8, 32):
        out += [
            Scenario(f"pgbench insert c{conns}", f"insert c{conns}", conns, pgbench),
            Scenario(f"minimal FastAPI insert c{conns}", f"insert c{conns}", conns, insert),
            Scenario(f"Raptor POST /v1/orders c{conns}", f"insert c{conns}", conns, submit),
        ]
    out += [
        Scenario(
            "minimal: 100 orders as plain dicts",
            "list c8",
            8,
            load.scenario(f"{minimal}/orders/dicts", "GET", None, {}, seconds, 200),
        ),
        Scenario(
            "minimal: 100 orders, response_model",
            "list c8",
            8,
            load.scenario(f"{minimal}/orders/model", "GET", None, {}, seconds, 200),
        ),
        Scenario(
            "minimal: 100 orders, pre-serialized",
            "list c8",
            8,
            load.scenario(f"{minimal}/orders/raw", "GET", None, {}, seconds, 200),
        ),
        Scenario(
            "Raptor GET /v1/orders?limit=100",
            "list c8",
            8,
            load.scenario(f"{raptor}/v1/orders?limit=100", "GET", None, get, seconds, 200),
        ),
    ]
    return out


def report(results: dict[str, list[Sample]], plan: list[Scenario]) -> None:
    medians = {
        name: Sample(
            statistics.median(s.ops_per_s for s in samples),
            statistics.median(s.p50_ms for s in samples),
            statistics.median(s.p99_ms for s in samples),
            sum(s.errors for s in samples),
        )
        for name, samples in results.items()
    }
    for group in dict.fromkeys(s.group for s in plan):
        members = [s for s in plan if s.group == group]
        baseline = medians[members[0].name]
        print(f"\n== {group} (ratios vs {members[0].name})")
        print(f"{'scenario':<40} {'ops/s':>9} {'ratio':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  rounds ops/s")
        for s in members:
            m = medians[s.name]
            rounds = " ".join(f"{x.ops_per_s:.0f}" for x in results[s.name])
            print(
                f"{s.name:<40} {m.ops_per_s:>9.0f} {m.ops_per_s / baseline.ops_per_s:>7.3f} "
                f"{m.p50_ms:>8.2f} {m.p99_ms:>8.2f} {m.errors:>6}  {rounds}"
            )
            statuses: Counter[int] = Counter()
            for sample in results[s.name]:
                statuses.update(sample.unexpected)
            if statuses:
                print(f"{'':<40} unexpected statuses: {dict(statuses)} (server logs in {LOG_DIR})")
    for conns in (8, 32):
        raptor = medians[f"Raptor POST /v1/orders c{conns}"].ops_per_s
        minimal = medians[f"minimal FastAPI insert c{conns}"].ops_per_s
        # Each round's own ratio too: within a round the two ran back to back, so a slow
        # spell of this shared machine weighs on both (the medians above mix rounds).
        per_round = [
            r.ops_per_s / m.ops_per_s
            for r, m in zip(
                results[f"Raptor POST /v1/orders c{conns}"], results[f"minimal FastAPI insert c{conns}"], strict=True
            )
        ]
        print(
            f"\nRaptor order path / minimal insert endpoint, c{conns}: {raptor / minimal:.3f} "
            f"(goal >= 1.0); minimal / pgbench: {minimal / medians[f'pgbench insert c{conns}'].ops_per_s:.3f}"
            f"\n  per round: median {statistics.median(per_round):.3f}, "
            f"at least 1.0 in {sum(ratio >= 1.0 for ratio in per_round)} of {len(per_round)} rounds "
            f"({' '.join(f'{ratio:.2f}' for ratio in per_round)})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument(
        "--loadgen", choices=["auto", "wrk", "aiohttp"], default="auto", help="auto: wrk when installed, else aiohttp"
    )
    parser.add_argument("--pythons", metavar="X.Y,X.Y", help="Raptor under each of these Pythons, vs the first")
    args = parser.parse_args()
    admin = os.environ.get("RAXX_TEST_DATABASE_URL", DEFAULT_ADMIN)
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    if use_wrk:
        print("load generator: wrk -t2 (a separate C process)")
    else:
        missing = "" if shutil.which("wrk") else " because wrk is missing (apt-get install -y wrk)"
        print(f"load generator: aiohttp in this process{missing}; it competes with the servers for CPU")
    print(f"PostgreSQL: {admin.rsplit('@', 1)[-1]}; rounds {args.rounds} x {args.seconds}s, interleaved; medians")
    if args.pythons:
        return compare_pythons(args, admin, use_wrk)
    with tempfile.TemporaryDirectory() as tmp, databases(admin) as (raptor_db, minimal_db):
        token = issue_token_sync(raptor_db.runtime_url, environment="staging", scopes=["trade"], name="bench")
        raptor_port, minimal_port = free_port(), free_port()
        with (
            server(
                [sys.executable, "-m", "raxx", "raptor", "serve", "--port", str(raptor_port)],
                raptor_env(raptor_db),
                raptor_port,
                "raptor",
            ) as raptor,
            server(
                [
                    sys.executable,
                    str(ROOT / "bench" / "minimal_insert_app.py"),
                    str(minimal_port),
                    libpq_url(minimal_db.runtime_url),
                ],
                {},
                minimal_port,
                "minimal",
            ) as minimal,
        ):
            load = LoadGenerator(use_wrk=use_wrk, script_dir=Path(tmp))
            plan = scenarios(load, raptor, minimal, token, libpq_url(minimal_db.owner_url), args.seconds, Path(tmp))
            warm = {s.name: s for s in plan}
            for name in ("Raptor POST /v1/orders c8", "minimal FastAPI insert c8"):
                warm[name].run(8)  # warm-up: pools filled, code paths hot; also seeds 100+ orders to list
            results: dict[str, list[Sample]] = {s.name: [] for s in plan}
            for round_no in range(args.rounds):
                for s in plan:
                    results[s.name].append(s.run(s.connections))
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    report(results, plan)
    return 0


def compare_pythons(args: argparse.Namespace, admin: str, use_wrk: bool) -> int:
    """Raptor under each of ``--pythons``, one process each, on one database; rounds interleaved."""
    venvs = pythons.venvs(args.pythons)
    print(pythons.describe(venvs))
    with tempfile.TemporaryDirectory() as tmp, databases(admin) as (raptor_db, _), ExitStack() as stack:
        token = issue_token_sync(raptor_db.runtime_url, environment="staging", scopes=["trade"], name="bench")
        bases, pids = {}, {}
        for version, python in venvs.items():
            port, pids[version] = free_port(), []
            argv = [str(python), "-m", "raxx", "raptor", "serve", "--port", str(port)]
            bases[version] = stack.enter_context(
                server(argv, raptor_env(raptor_db), port, f"raptor-{version}", pids[version])
            )
        load = LoadGenerator(use_wrk=use_wrk, script_dir=Path(tmp))
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Raxx-Actor": "bench"}
        measures = {  # name -> (connections, method, path, body, expected status)
            "POST /v1/orders c8": (8, "POST", "/v1/orders", ORDER, 201),
            "POST /v1/orders c32": (32, "POST", "/v1/orders", ORDER, 201),
            "GET /v1/orders?limit=100 c8": (8, "GET", "/v1/orders?limit=100", None, 200),
        }
        runs = {
            name: {v: load.scenario(f"{url}{path}", method, body, auth, args.seconds, code) for v, url in bases.items()}
            for name, (_, method, path, body, code) in measures.items()
        }
        for version in bases:
            runs["POST /v1/orders c8"][version](8)  # warm-up; also seeds orders to list
        results: dict[str, dict[str, list[pythons.Measured]]] = {name: {v: [] for v in bases} for name in measures}
        for round_no in range(args.rounds):
            for name, (conns, *_) in measures.items():
                for version in pythons.in_turn(list(bases), round_no):
                    cpu = pythons.cpu_seconds(pids[version])
                    sample = runs[name][version](conns)
                    cpu = pythons.cpu_seconds(pids[version]) - cpu
                    count = sample.ops_per_s * args.seconds
                    measured = pythons.Measured(sample.ops_per_s, sample.p50_ms, cpu / max(1.0, count) * 1e6)
                    results[name][version].append(measured)
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)
    pythons.report(results, "orders/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
