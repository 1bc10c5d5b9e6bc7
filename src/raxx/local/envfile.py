"""The files ``raxx up`` writes for the other commands: ``raxx.env`` and ``environments.toml``."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from raxx.common.alerts.sinks import AlertSettings
from raxx.local.options import ENV_COLORS, RAPTOR_ENVS, UpOptions
from raxx.local.provision import Databases, LocalSecrets
from raxx.local.services import policy_file

#: ``<data_dir>/raxx.env``: what the other ``raxx`` commands need to act on this topology.
ENV_FILE = "raxx.env"
ENV_FILE_HEADER = """\
# Written by `raxx up` at every start: what the other raxx commands need to act on this
# local topology (Raptor staging's database, the console's, the gate's ledger). Read it with
#   set -a; . {path}; set +a
# It holds database passwords and tokens: it is readable by its owner only.
"""


def env_file_values(
    data_dir: Path, databases: Databases, store: LocalSecrets, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every setting the README's commands read, for this topology (Raptor: the staging deployment).

    ``environ``: ``raxx up``'s own. Its alert sinks (``RAXX_ALERT_*``, which its processes inherit) are
    passed on: an alert is queued only for the sinks of the process that raises it, so `raxx audit
    verify` or `raxx gate` without them would record one that no dispatcher ever sends."""
    staging = databases.raptor["staging"]
    console = databases.console
    values = {
        "RAPTOR_ENVIRONMENT": "staging",
        "RAPTOR_DATABASE_URL": staging.runtime_url,
        "RAPTOR_MIGRATION_DATABASE_URL": staging.owner_url,
        "CONSOLE_DATABASE_URL": console.runtime_url,
        "CONSOLE_MIGRATION_DATABASE_URL": console.owner_url,
        "CONSOLE_ENVIRONMENTS_FILE": str(data_dir / "environments.toml"),
        "CONSOLE_AUDIT_SIGNING_KEY": store.values.get("CONSOLE_AUDIT_SIGNING_KEY", ""),
        "GATE_PLATFORM": "local",
        "GATE_TOPOLOGY_FILE": str(data_dir / "run" / "topology.json"),
        "GATE_POLICY_FILE": str(policy_file()),
        "GATE_AUDIT_DATABASE_URL": console.runtime_url,
        "GATE_CONSOLE_SMOKE_TOKEN": store.values.get("GATE_CONSOLE_SMOKE_TOKEN", ""),
    }
    if store.values.get("CONSOLE_AUDIT_HMAC_KEY"):  # verifies checkpoints signed before Ed25519
        values["CONSOLE_AUDIT_HMAC_KEY"] = store.values["CONSOLE_AUDIT_HMAC_KEY"]
    if databases.ledger is not None:
        values["GATE_DATABASE_URL"] = databases.ledger.runtime_url
        values["GATE_MIGRATION_DATABASE_URL"] = databases.ledger.owner_url
    prefix = str(AlertSettings.model_config.get("env_prefix"))
    values.update({k: v for k, v in sorted((environ or {}).items()) if k.startswith(prefix) and v})
    return values


def write_env_file(
    data_dir: Path, databases: Databases, store: LocalSecrets, environ: Mapping[str, str] | None = None
) -> Path:
    """``<data_dir>/raxx.env``, shell-quoted (``set -a; . FILE``) and readable by the owner only."""
    path = data_dir / ENV_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    lines = [
        f"{key}={shlex.quote(value)}\n" for key, value in env_file_values(data_dir, databases, store, environ).items()
    ]
    path.write_text(ENV_FILE_HEADER.format(path=path) + "".join(lines))
    (data_dir / "gate.env").unlink(missing_ok=True)  # its older, gate-only name
    return path


def write_registry(path: Path, options: UpOptions) -> None:
    ports = options.raptor_ports()
    lines = ["# Written by raxx up: the local topology's environment registry.", 'default = "staging"', ""]
    for env in RAPTOR_ENVS:
        label, color, protected = ENV_COLORS[env]
        lines += [
            f"[environments.{env}]",
            f'label = "{label}"',
            f'color = "{color}"',
            f'raptor_url = "http://{options.host}:{ports[env]}"',
            f'token_secret = "RAPTOR_TOKEN_{env.upper()}"',
            f"protected = {'true' if protected else 'false'}",
            "",
        ]
    path.write_text("\n".join(lines))
