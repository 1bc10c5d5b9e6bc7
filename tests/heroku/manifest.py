"""The two files Heroku reads from the repository: the ``Procfile`` and ``app.json``.

Procfile (Heroku's format): one ``<process type>: <command>`` per line; the type is
alphanumeric (``_`` and ``-`` allowed), the command runs in a shell on the dyno so
``$PORT`` expands. app.json: ``env`` declares every config var an app may be given,
``addons`` names the Postgres plan whose connection limit the harness enforces,
``formation`` the dyno size whose memory quota it keeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROCESS_LINE = re.compile(r"^(?P<type>[A-Za-z0-9_-]+):\s*(?P<command>.+?)\s*$")

#: Heroku Postgres plans and their connection limits (Dev Center, "Heroku Postgres plans").
POSTGRES_CONNECTION_LIMITS = {"essential-0": 20, "essential-1": 20, "essential-2": 40}


class ManifestError(ValueError):
    """The Procfile or app.json is not what Heroku would accept."""


def read_procfile(path: Path) -> dict[str, str]:
    """Process types and their commands, in file order."""
    processes: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PROCESS_LINE.match(line)
        if match is None:
            raise ManifestError(f"{path.name}:{number}: not a '<type>: <command>' line: {line!r}")
        if match["type"] in processes:
            raise ManifestError(f"{path.name}:{number}: process type {match['type']!r} declared twice")
        processes[match["type"]] = match["command"]
    return processes


@dataclass(frozen=True)
class AppManifest:
    """What ``app.json`` says about every app built from this repository."""

    declared: frozenset[str]
    postgres_plan: str
    #: The web process's dyno size (``formation.web.size``); the harness gives every dyno its memory quota.
    dyno_size: str = "basic"

    @property
    def connection_limit(self) -> int:
        try:
            return POSTGRES_CONNECTION_LIMITS[self.postgres_plan]
        except KeyError:
            raise ManifestError(f"app.json: unknown Heroku Postgres plan {self.postgres_plan!r}") from None

    def check_config(self, app: str, config: Mapping[str, str]) -> None:
        """Refuse a config var that app.json does not declare (Heroku would take it; we
        want every config var an app needs documented where deployers read)."""
        undeclared = sorted(set(config) - self.declared)
        if undeclared:
            raise ManifestError(f"{app}: config vars not declared in app.json: {', '.join(undeclared)}")


def read_app_json(path: Path) -> AppManifest:
    data = json.loads(path.read_text())
    env = data.get("env", {})
    plans = [a if isinstance(a, str) else a.get("plan", "") for a in data.get("addons", [])]
    postgres = [p.split(":", 1)[1] for p in plans if p.startswith("heroku-postgresql:")]
    if not postgres:
        raise ManifestError("app.json: no heroku-postgresql add-on")
    size = str(data.get("formation", {}).get("web", {}).get("size", "basic")).lower()
    return AppManifest(declared=frozenset(env), postgres_plan=postgres[0], dyno_size=size)
