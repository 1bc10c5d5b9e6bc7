"""``raxx up``'s raxx.env: the other commands act on the topology as its own processes do."""

from __future__ import annotations

from pathlib import Path

from raxx.common.provision import ProvisionedDatabase
from raxx.local.envfile import env_file_values
from raxx.local.options import UpOptions
from raxx.local.provision import Databases, LocalSecrets
from raxx.local.services import build_services


def _databases() -> Databases:
    def db(name: str) -> ProvisionedDatabase:
        return ProvisionedDatabase(name, f"postgresql://o:o@127.0.0.1:1/{name}", f"postgresql://r:r@127.0.0.1:1/{name}")

    return Databases(raptor={"staging": db("staging"), "prod": db("prod")}, console=db("console"), ledger=db("ledger"))


def test_the_alert_sinks_raxx_up_runs_with_reach_the_other_commands(tmp_path: Path) -> None:
    """An alert is queued for the sinks of the process that raises it: `raxx audit verify` or `raxx gate`
    run with raxx.env but without the topology's sinks would record it for nobody, and no dispatcher
    would ever send it."""
    environ = {
        "RAXX_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "RAXX_ALERT_PAGERDUTY_ROUTING_KEY": "PDKEY",
        "HOME": "/root",
    }
    values = env_file_values(tmp_path, _databases(), LocalSecrets(tmp_path / "secrets.env"), environ)
    assert values["RAXX_ALERT_WEBHOOK_URL"] == "http://127.0.0.1:9/hook"
    assert values["RAXX_ALERT_PAGERDUTY_ROUTING_KEY"] == "PDKEY"
    assert "HOME" not in values

    quiet = env_file_values(tmp_path, _databases(), LocalSecrets(tmp_path / "secrets.env"), {})
    assert not [k for k in quiet if "_ALERT_" in k]  # none configured: none written


def test_the_monitor_runs_the_console_s_release_requests_with_the_settings_the_gate_cli_has(tmp_path: Path) -> None:
    """The monitor carries out the releases page's promotions and rollbacks with the CLI's own
    flows: without the smoke token the CLI reads from raxx.env, each was refused ``smoke_ready``
    (and a rollback ran, then was reported refused)."""
    store = LocalSecrets(tmp_path / "secrets.env")
    store.set("GATE_CONSOLE_SMOKE_TOKEN", "rxc_smoke")
    options = UpOptions(data_dir=str(tmp_path), environ={})
    services = {s.name: s for s in build_services(options, tmp_path, _databases(), store, "r1")}
    cli = {k: v for k, v in env_file_values(tmp_path, _databases(), store, {}).items() if k.startswith("GATE_")}
    monitor = {k: v for k, v in services["monitor"].env.items() if k.startswith("GATE_")}
    assert cli["GATE_CONSOLE_SMOKE_TOKEN"] == "rxc_smoke"
    assert {k: monitor.get(k) for k in cli} == cli
