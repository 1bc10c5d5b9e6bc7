"""``scripts/heroku-local``: run Raxx's three apps the way Heroku runs them, on this machine.

    scripts/heroku-local slug [--fresh] [--compress]   build the slug as the buildpack does; its size
    scripts/heroku-local up                            slug, databases, release phases, formation, router;
                                                       prints the URLs and a console token; Ctrl-C stops
    scripts/heroku-local stop                          stop a running `up` (SIGTERM, as Ctrl-C)
    scripts/heroku-local scenario                      the CI scenario (tests/heroku/scenario.py), figures printed

State (slug, logs, router, embedded PostgreSQL) lives under ``--state`` (default
``.raxx/heroku-local``); ``<state>/logs/<app>/<dyno>.log`` are the dynos' logs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/heroku-local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=REPO / ".raxx" / "heroku-local")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RAXX_HEROKU_LOCAL_DATABASE_URL"),
        help="admin URL of a PostgreSQL that checks passwords (default: an embedded one under --state)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    slug = sub.add_parser("slug", help="build the slug and report its size")
    slug.add_argument("--fresh", action="store_true", help="a fresh venv (no build cache)")
    slug.add_argument("--compress", action="store_true", help="also measure the tar.gz size Heroku reports")
    up = sub.add_parser("up", help="run the three apps until Ctrl-C")
    up.add_argument("--fresh", action="store_true")
    sub.add_parser("stop", help="stop a running `up`")
    scenario = sub.add_parser("scenario", help="run the CI scenario and print its figures")
    scenario.add_argument("--clients", type=int, default=64)
    scenario.add_argument("--seconds", type=float, default=15.0)
    scenario.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")  # as pyproject's pytest settings do
    args = _parser().parse_args(argv)
    state: Path = args.state.resolve()
    if args.command == "slug":
        from tests.heroku.platform import HerokuLocal

        harness = HerokuLocal(state, repo=REPO)
        print(harness.build(fresh=args.fresh, compress=args.compress).summary())
        return 0
    if args.command == "stop":
        return _stop(state)
    if args.command == "up":
        return _up(state, args)
    return _scenario(state, args)


def _stop(state: Path) -> int:
    pid_file = state / "up.pid"
    if not pid_file.exists():
        print(f"heroku-local: nothing running ({pid_file} absent)", file=sys.stderr)
        return 1
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink()
        print("heroku-local: the `up` process was already gone", file=sys.stderr)
        return 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("heroku-local: stopped")
            return 0
        time.sleep(0.2)


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _up(state: Path, args: argparse.Namespace) -> int:
    from tests.heroku.formation import CONSOLE, OPERATOR, RAPTORS, bring_up
    from tests.heroku.platform import HerokuLocal

    signal.signal(signal.SIGTERM, _on_sigterm)
    harness = HerokuLocal(state, repo=REPO, admin_url=args.database_url, slug_dir=state / "slug")
    (state / "up.pid").write_text(str(os.getpid()))
    try:
        formation = bring_up(harness, fresh_slug=args.fresh)
        assert harness.slug is not None
        print(harness.slug.summary())
        print()
        for app in [*RAPTORS.values(), CONSOLE]:
            dynos = ", ".join(f"{name} :{d.port}" for name, d in harness.apps[app].dynos.items())
            print(f"  {app:<22} {harness.apps[app].url:<26} {dynos}")
        assert harness.pki is not None
        print(f"\n  CA: {harness.pki.ca_file}  (curl --cacert ...; SSL_CERT_FILE for Python)")
        print(f"  console sign-in: {OPERATOR} / {formation.operator_password}")
        print(f"  console API token: {formation.console_token}")
        print(f"  logs: {harness.logs}/<app>/<dyno>.log, router: {state / 'router'}")
        print("  Ctrl-C (or scripts/heroku-local stop) stops every dyno as Heroku does.\n", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        statuses = harness.stop()
        harness.close()
        (state / "up.pid").unlink(missing_ok=True)
        print("stopped: " + ", ".join(f"{name} exited {status}" for name, status in statuses.items()))
    return 0


def _scenario(state: Path, args: argparse.Namespace) -> int:
    from tests.heroku.scenario import ScenarioOptions, run_scenario

    signal.signal(signal.SIGTERM, _on_sigterm)  # stop every dyno on the way out, as Ctrl-C does
    report = run_scenario(
        state,
        repo=REPO,
        options=ScenarioOptions(clients=args.clients, load_seconds=args.seconds),
        admin_url=args.database_url,
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1
