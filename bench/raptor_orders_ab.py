"""Raptor's order path, two versions of the code side by side: is a change faster?

    python bench/raptor_orders_ab.py --base HEAD [--tree .] [--connections 8,32] [--rounds 5] [--seconds 8]

Runs ``raxx raptor serve`` from the revision ``--base`` (checked out into a temporary git
worktree) and from ``--tree`` (default: this working tree, uncommitted changes included),
each with its own database migrated by its own code, against the test PostgreSQL
(``RAXX_TEST_DATABASE_URL``, else 127.0.0.1:5432). Each round measures every version at
every connection count with wrk (``POST /v1/orders``, a market buy), versions in turn and
in alternating order, each measurement on emptied tables: grown tables make inserts slower
and would favour whichever version ran first. Prints the medians and the candidate's ratio
to the base. Needs wrk (``apt-get install -y wrk``). Everything it starts or creates is
stopped, dropped or removed at the end.

Why it exists: ``raptor_orders.py`` compares Raptor with baselines; the spread between its
runs on this shared machine (10-30 % at 8 connections) hides a 5 % change. Interleaved
rounds of two versions on one machine state show it (``bench/README.md`` has what it found).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
from raptor_orders import DEFAULT_ADMIN, ROOT, server, wrk_load

from raxx.common.db import libpq_url
from raxx.common.pgembed import free_port
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database

ORDER = b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1"}'
#: What a measurement empties first (the account goes back to its starting cash).
TABLES = ("orders", "paper_orders", "request_log", "paper_positions")
STARTING_CASH = "1000000000000"


@dataclass
class Version:
    label: str
    tree: Path
    database: ProvisionedDatabase
    token: str = ""
    url: str = ""


def in_tree(tree: Path, code: str) -> str:
    """Run ``code`` with ``tree``'s package on the path; its printed output."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout.strip()


def prepare(version: Version) -> None:
    """Migrate the version's database with its own migrations; a trade token for it."""
    db = version.database
    in_tree(
        version.tree,
        "from raxx.common.migrations import upgrade; "
        f"upgrade('raptor', {db.owner_url!r}, runtime_url={db.runtime_url!r})",
    )
    version.token = in_tree(
        version.tree,
        "from raxx.raptor.token.service import issue_token_sync; "
        f"print(issue_token_sync({db.runtime_url!r}, environment='staging', scopes=['trade'], name='ab'))",
    )


def empty_tables(version: Version, admin: str) -> None:
    """Emptied tables, and a checkpoint: the server's own (its ``max_wal_size`` is reached
    every few rounds under this load) would otherwise land in a random measurement, whose
    commits then wait for full-page images."""
    with psycopg.connect(libpq_url(version.database.owner_url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        conn.execute("UPDATE paper_account SET cash = %s, reserved = 0", (Decimal(STARTING_CASH),))
        conn.execute("VACUUM ANALYZE")
    with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="raxx-ab-")) / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), revision], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)


@contextmanager
def databases(admin: str, count: int) -> Iterator[list[ProvisionedDatabase]]:
    run = secrets.token_hex(3)
    owner, runtime = f"rxab_{run}_owner", f"rxab_{run}_app"
    made: list[ProvisionedDatabase] = []
    try:
        for i in range(count):
            made.append(
                provision_database(
                    admin,
                    database=f"rxab_{run}_{i}",
                    owner=owner,
                    owner_password=run + "o",
                    runtime=runtime,
                    runtime_password=run + "r",
                )
            )
        yield made
    finally:
        for db in made:
            drop_database(admin, db.database)
        for role in (runtime, owner):
            drop_role(admin, role)


def serve(stack: ExitStack, version: Version) -> None:
    port = free_port()
    env = {
        "PYTHONPATH": str(version.tree / "src"),
        "RAPTOR_ENVIRONMENT": "staging",
        "RAPTOR_DATABASE_URL": version.database.runtime_url,
        "RAPTOR_RELEASE": f"ab-{version.label}",
        "RAPTOR_PAPER_STARTING_CASH": STARTING_CASH,
    }
    args = [sys.executable, "-m", "raxx", "raptor", "serve", "--port", str(port)]
    version.url = stack.enter_context(server(args, env, port, f"ab-{version.label}"))


def measure(
    versions: list[Version], connections: list[int], rounds: int, seconds: int, scripts: Path, admin: str
) -> None:
    rates: dict[tuple[str, int], list[float]] = {(v.label, c): [] for v in versions for c in connections}
    for version in versions:  # warm-up: pools filled, code paths hot
        wrk_load(f"{version.url}/v1/orders", "POST", ORDER, _headers(version), 8, 2, scripts)
    for round_no in range(rounds):
        for conns in connections:
            for version in versions if round_no % 2 == 0 else versions[::-1]:
                empty_tables(version, admin)
                sample = wrk_load(f"{version.url}/v1/orders", "POST", ORDER, _headers(version), conns, seconds, scripts)
                if sample.errors:
                    print(f"{version.label} c{conns}: {sample.errors} requests failed (logs in test-output/bench)")
                rates[(version.label, conns)].append(sample.ops_per_s)
        print(f"round {round_no + 1}/{rounds} done", file=sys.stderr)
    base = versions[0].label
    print(f"\n{'version':<12} {'conns':>5} {'median/s':>9} {'ratio':>6} {'paired':>6}  rounds")
    for conns in connections:
        references = rates[(base, conns)]
        reference = statistics.median(references)
        for version in versions:
            values = rates[(version.label, conns)]
            median = statistics.median(values)
            # The median of each round's own ratio: a round's two measurements ran back to
            # back, so a slow spell of the shared machine hits both.
            paired = statistics.median(v / r for v, r in zip(values, references, strict=True))
            each = " ".join(f"{v:.0f}" for v in values)
            print(f"{version.label:<12} {conns:>5} {median:>9.0f} {median / reference:>6.3f} {paired:>6.3f}  {each}")


def _headers(version: Version) -> dict[str, str]:
    return {"Authorization": f"Bearer {version.token}", "Content-Type": "application/json", "X-Raxx-Actor": "ab"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the git revision to compare against, e.g. HEAD or main~3")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the candidate's source tree (default: this one)")
    parser.add_argument("--connections", default="8,32", help="comma-separated connection counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    connections = [int(c) for c in args.connections.split(",")]
    admin = os.environ.get("RAXX_TEST_DATABASE_URL", DEFAULT_ADMIN)
    with (
        worktree(args.base) as base_tree,
        databases(admin, 2) as (base_db, candidate_db),
        tempfile.TemporaryDirectory() as scripts,
        ExitStack() as stack,
    ):
        versions = [
            Version(f"base:{args.base}"[:12], base_tree, base_db),
            Version("candidate", args.tree.resolve(), candidate_db),
        ]
        for version in versions:
            prepare(version)
            serve(stack, version)
        measure(versions, connections, args.rounds, args.seconds, Path(scripts), admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
