"""The environment of an alert in words: a person woken at night reads it first."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from raxx.common.environments import registry_file


def environment_words(environment: str | None) -> str:
    """``PRODUCTION (prod)`` from the registry's label, the bare name when the registry does not
    know it, ``all environments`` for an alert about the whole system (the audit trail, the monitor)."""
    if not environment:
        return "all environments"
    label = _labels(registry_file()).get(environment)
    return f"{label} ({environment})" if label and label.lower() != environment.lower() else environment.upper()


@lru_cache(maxsize=4)
def _labels(path: Path) -> dict[str, str]:
    from raxx.common.environments import EnvironmentRegistry

    try:
        return {name: spec.label for name, spec in EnvironmentRegistry.from_toml(path).items()}
    except Exception:  # a registry this process cannot read still lets the alert name its environment
        return {}
