"""Secrets providers: where a deployable reads its credentials from.

The chain is: a secrets manager when configured (Infisical, added by the outside-world
adapters), then a ``.env`` file (development only), then the process environment
(where Heroku config vars land). Values never appear in logs or errors; only key
names do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from raxx.common.errors import ConfigError


class SecretsProvider(Protocol):
    name: str

    def get(self, key: str) -> str | None: ...


class EnvironSecrets:
    """Secrets from the process environment (Heroku config vars)."""

    name = "environment"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    def get(self, key: str) -> str | None:
        value = self._environ.get(key)
        return value or None


class DotenvSecrets:
    """Secrets from a ``KEY=value`` file; for development and ``raxx up`` only."""

    name = "dotenv"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._values = parse_dotenv(path.read_text()) if path.exists() else {}

    def get(self, key: str) -> str | None:
        return self._values.get(key) or None


class ChainSecrets:
    """First provider that has the key wins."""

    name = "chain"

    def __init__(self, providers: Iterable[SecretsProvider]) -> None:
        self.providers = list(providers)

    def get(self, key: str) -> str | None:
        for provider in self.providers:
            value = provider.get(key)
            if value is not None:
                return value
        return None

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            sources = ", ".join(p.name for p in self.providers)
            raise ConfigError(f"required secret {key} is missing (looked in: {sources})")
        return value


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def write_dotenv(path: Path, values: Mapping[str, str]) -> None:
    """Write ``values`` to ``path`` readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(values.items())))
