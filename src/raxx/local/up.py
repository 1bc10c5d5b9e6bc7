"""``raxx up``: the whole local topology on one machine.

Embedded PostgreSQL (unless URLs are given) with one database and one pair of roles
per deployment, migrations as a release step, Raptor staging and prod, the console,
the health monitor; a table of URLs and the demo login; Ctrl-C stops everything.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raxx.common.pgembed import EmbeddedPostgres
from raxx.common.release import current_release
from raxx.local.envfile import ENV_FILE, write_env_file, write_registry
from raxx.local.options import UpOptions, check_ports
from raxx.local.provision import (
    DEMO_USER,
    Databases,
    LocalSecrets,
    ensure_demo_user,
    ensure_smoke_token,
    migrate_all,
    migrate_tree,
    provision_all,
    with_overrides,
)
from raxx.local.services import build_services, oidc_demo_password
from raxx.local.supervisor import Supervisor


def _gate_available() -> bool:
    return importlib.util.find_spec("raxx.gate.monitor") is not None


@dataclass
class Topology:
    """A prepared and started local topology (used by ``run_up`` and the end-to-end tests)."""

    options: UpOptions
    data_dir: Path
    supervisor: Supervisor
    databases: Databases
    store: LocalSecrets
    embedded: EmbeddedPostgres | None
    started_embedded: bool
    demo_password: str | None

    def url(self, service: str) -> str:
        url = self.supervisor.children[service].spec.url
        assert url is not None
        return url

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self.embedded is not None and self.started_embedded:
            self.embedded.stop()


def start_topology(options: UpOptions, *, out: Any = None) -> Topology:
    """Prepare databases, migrate, issue tokens, start every service and wait until ready."""
    data_dir = Path(options.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    check_ports(options)
    store = LocalSecrets(data_dir / "secrets.env")
    embedded: EmbeddedPostgres | None = None
    started = False
    admin_url = options.admin_url
    if admin_url is None:
        embedded = EmbeddedPostgres(data_dir / "pg")
        started = embedded.start()
        embedded.wait_ready()
        admin_url = embedded.admin_url()
    supervisor: Supervisor | None = None
    try:
        provisioned = provision_all(admin_url, store, options.database_prefix, with_ledger=_gate_available())
        dbs = with_overrides(provisioned, options.environ)
        migrate_all(dbs, store)
        demo_password = ensure_demo_user(
            dbs.console.owner_url, options.environ.get("RAXX_DEMO_PASSWORD"), break_glass=options.oidc_demo
        )
        ensure_smoke_token(dbs.console.owner_url, store)
        write_registry(data_dir / "environments.toml", options)
        (data_dir / "logs").mkdir(exist_ok=True)
        supervisor = Supervisor(data_dir / "run", out=out, log_dir=data_dir / "logs")
        supervisor.migrator = migrate_tree
        kept = supervisor.resume()
        for spec in build_services(options, data_dir, dbs, store, current_release()):
            spec.release = kept.get(spec.name, spec.release)
            supervisor.add(spec)
        supervisor.start_all()
    except BaseException:
        if supervisor is not None:
            supervisor.stop_all()
        if embedded is not None and started:
            embedded.stop()
        raise
    top = Topology(options, data_dir, supervisor, dbs, store, embedded, started, demo_password)
    write_env_file(data_dir, dbs, store, options.environ)
    return top


def _print_summary(top: Topology, elapsed: float) -> None:
    say = top.supervisor.say
    pg = f"embedded PostgreSQL on 127.0.0.1:{top.embedded.port}" if top.embedded else "PostgreSQL from the given URLs"
    say("")
    say(f"Raxx is up in {elapsed:.1f} s  (data: {top.data_dir}, {pg})")
    say(f"  {'service':<16}{'url':<28}release")
    for name, child in top.supervisor.children.items():
        url = child.spec.url or f"(polls every {top.options.monitor_interval:g} s)"
        say(f"  {name:<16}{url:<28}{child.spec.release}")
    say("")
    console = top.url("console-prod")
    if top.demo_password:
        say(f"  Sign in at {console}/login as {DEMO_USER} / {top.demo_password}")
        if not top.options.environ.get("RAXX_DEMO_PASSWORD"):
            say("  (this generated password is shown once; reset it with: raxx console user passwd demo)")
    else:
        say(f"  Sign in at {console}/login as {DEMO_USER} (password set at first start, or RAXX_DEMO_PASSWORD)")
    if top.options.oidc_demo:
        password = oidc_demo_password(top.options, top.store)
        say(f"  Single sign-on: 'Sign in with the demo identity provider' at {console}/login, then")
        say(f"    stella / {password}  (staging operator)   or   paul / {password}  (prod operator)")
        say(f"  ({DEMO_USER} is a break-glass account now: each password sign-in is audited and alerts)")
    activate = Path(sys.prefix) / "bin" / "activate"
    venv = f". {activate}; " if activate.exists() else ""
    say(f"  Other commands on it, in another shell: {venv}set -a; . {top.data_dir / ENV_FILE}; set +a; raxx --help")
    say("  Ctrl-C stops everything.")
    say("")


def run_up(options: UpOptions) -> int:
    started_at = time.monotonic()

    def _on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops everything exactly like Ctrl-C

    signal.signal(signal.SIGTERM, _on_signal)
    try:
        top = start_topology(options)
    except KeyboardInterrupt:
        print("raxx up: interrupted while starting; everything started was stopped", file=sys.stderr)
        return 130
    _print_summary(top, time.monotonic() - started_at)
    try:
        top.supervisor.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        top.supervisor.say("stopping: " + ", ".join(reversed(list(top.supervisor.children))))
        top.stop()
        top.supervisor.say("stopped; no process left behind")
    return 0


__all__ = ["Topology", "UpOptions", "run_up", "start_topology"]
