"""``raxx secrets check``: which keys an app needs, which are present and where from (names
and sources only, never values), and what else is wrong with them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from raxx.common.secrets import ChainSecrets, SecretStatus
from raxx.runtime import app_spec, check_secrets, open_secrets, truthy


@dataclass
class SecretsReport:
    """Required keys present or missing (names and sources only) and other problems found."""

    app: str
    environment: str | None
    sources: str
    statuses: list[SecretStatus]
    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.present for s in self.statuses)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "environment": self.environment,
            "sources": self.sources,
            "ok": self.ok,
            "keys": [asdict(status) for status in self.statuses],
            "problems": self.problems,
            "notes": self.notes,
        }


def secrets_report(app: str, environment: str | None, environ: Mapping[str, str] | None = None) -> SecretsReport:
    """What ``raxx secrets check --app APP --env ENV`` prints: reads Infisical's ``ENV`` slug."""
    spec = app_spec(app)
    values = dict(os.environ if environ is None else environ)
    chain = open_secrets(spec, values, infisical_environment=environment)
    problems: list[str] = []
    if spec.name == "raptor":
        problems += _raptor_problems(chain, environment)
    return SecretsReport(spec.name, environment, chain.sources(), check_secrets(spec, chain), problems, chain.notes)


def _raptor_problems(chain: ChainSecrets, environment: str | None) -> list[str]:
    problems = []
    declared = chain.get("RAPTOR_ENVIRONMENT")
    if environment and declared and declared != environment:
        problems.append(f"RAPTOR_ENVIRONMENT is {declared!r} but these are the secrets for {environment!r}")
    if truthy(chain.get("RAPTOR_ALPACA_ALLOW_LIVE")):
        problems.append("RAPTOR_ALPACA_ALLOW_LIVE is set: live trading with real money is enabled")
    return problems
