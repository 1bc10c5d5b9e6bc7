"""Secrets providers: where a deployable reads its credentials from.

The chain is: Infisical when configured (``raxx.common.infisical``), then a ``.env``
file (development only), then the process environment (where Heroku config vars land).
Values never appear in logs or errors; only key names and the provider that answered do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import httpx

from raxx.common.errors import ConfigError, Unavailable
from raxx.common.infisical import InfisicalClient, InfisicalConfig, InfisicalUnavailable
from raxx.common.logging import log_event

log = logging.getLogger("raxx.secrets")


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


class InfisicalSecrets:
    """One Infisical environment path, read once (at construction) into an immutable copy.

    Request-time code never waits on the network; ``refresh()`` re-reads on demand.
    """

    name = "infisical"

    def __init__(self, client: InfisicalClient) -> None:
        self.client = client
        self._values: Mapping[str, str] = MappingProxyType({})
        self.refresh()

    def refresh(self) -> None:
        self._values = MappingProxyType(self.client.list_secrets())
        log_event(log, "secrets.infisical.load.ok", where=self.client.config.describe(), keys=len(self._values))

    def get(self, key: str) -> str | None:
        return self._values.get(key) or None

    def keys(self) -> list[str]:
        return sorted(self._values)

    def __repr__(self) -> str:
        return f"InfisicalSecrets({self.client.config.describe()}, {len(self._values)} keys)"


@dataclass(frozen=True)
class SecretStatus:
    """Whether a required key is present, and which provider has it; never the value."""

    key: str
    present: bool
    source: str | None
    purpose: str = ""


class ChainSecrets:
    """First provider that has the key wins."""

    name = "chain"

    def __init__(self, providers: Iterable[SecretsProvider], *, notes: Sequence[str] = ()) -> None:
        self.providers = list(providers)
        #: Things a person should know about how the chain was built (a fallback taken).
        self.notes = list(notes)

    def get(self, key: str) -> str | None:
        for provider in self.providers:
            value = provider.get(key)
            if value is not None:
                return value
        return None

    def source_of(self, key: str) -> str | None:
        """The name of the provider that answers ``key``."""
        for provider in self.providers:
            if provider.get(key) is not None:
                return provider.name
        return None

    def sources(self) -> str:
        return ", ".join(p.name for p in self.providers)

    def require(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise ConfigError(f"required secret {key} is missing (looked in: {self.sources()})")
        return value

    def check(self, keys: Mapping[str, str] | Sequence[str]) -> list[SecretStatus]:
        """Each key (with its purpose when ``keys`` maps key -> purpose) present or missing."""
        purposes = keys if isinstance(keys, Mapping) else dict.fromkeys(keys, "")
        statuses = []
        for key, purpose in purposes.items():
            source = self.source_of(key)
            statuses.append(SecretStatus(key, source is not None, source, purpose))
        return statuses

    def require_all(self, keys: Mapping[str, str] | Sequence[str]) -> None:
        """Refuse, naming every missing key (and never a value)."""
        missing = [s.key for s in self.check(keys) if not s.present]
        if missing:
            noun = "secret" if len(missing) == 1 else "secrets"
            raise ConfigError(f"required {noun} missing: {', '.join(missing)} (looked in: {self.sources()})")

    def values(self, keys: Iterable[str]) -> list[str]:
        """The values of ``keys`` that are set: for redaction filters, never for display."""
        return [v for v in (self.get(k) for k in keys) if v]

    def __repr__(self) -> str:
        return f"ChainSecrets({self.sources()})"


def build_secrets_chain(
    environ: Mapping[str, str] | None = None,
    *,
    dotenv_file: Path | None = None,
    development: bool = False,
    infisical_environment: str | None = None,
    infisical_path: str | None = None,
    required: Sequence[str] = (),
    transport: httpx.BaseTransport | None = None,
) -> ChainSecrets:
    """Infisical when configured, then ``dotenv_file`` (development only), then ``environ``.

    Fails closed: if Infisical is configured but unreachable the chain is refused, unless
    every ``required`` key is already in the process environment (Heroku config vars),
    which are then used and the fallback is noted.
    """
    environ = os.environ if environ is None else environ
    providers: list[SecretsProvider] = []
    notes: list[str] = []
    config = InfisicalConfig.from_environ(environ, environment=infisical_environment, secret_path=infisical_path)
    if config is not None:
        client = InfisicalClient(config, transport=transport)
        try:
            providers.append(InfisicalSecrets(client))
        except InfisicalUnavailable as exc:
            missing = [key for key in required if not environ.get(key)]
            if missing or not required:
                raise Unavailable(
                    f"{exc.detail}; refusing to start without it"
                    + (f" (not in config vars either: {', '.join(missing)})" if missing else "")
                ) from None
            notes.append(f"{exc.detail}; every required key is set as a config var, using those")
            log_event(log, "secrets.infisical.load.fallback", level=logging.WARNING, reason=str(exc.detail))
        finally:
            client.close()
    if dotenv_file is not None:
        if not development:
            raise ConfigError(f"a .env secrets file ({dotenv_file}) is for development only")
        providers.append(DotenvSecrets(dotenv_file))
    providers.append(EnvironSecrets(environ))
    return ChainSecrets(providers, notes=notes)


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and blanks known secret values out of every line it produces.

    Defence in depth: no code logs a secret on purpose, but a driver error message or a
    traceback might quote a URL with a password in it.
    """

    MIN_LENGTH = 6  # shorter values would redact ordinary words

    def __init__(self, inner: logging.Formatter, values: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        self.values = sorted({v for v in values if len(v) >= self.MIN_LENGTH}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = self.inner.format(record)
        for value in self.values:
            line = line.replace(value, "[redacted]")
        return line


def install_redaction(values: Iterable[str], logger: logging.Logger | None = None) -> None:
    """Wrap every handler's formatter on ``logger`` (the root logger) with ``RedactingFormatter``."""
    wanted = list(values)
    for handler in (logger or logging.getLogger()).handlers:
        inner = handler.formatter or logging.Formatter()
        if isinstance(inner, RedactingFormatter):
            inner = inner.inner
        handler.setFormatter(RedactingFormatter(inner, wanted))


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


class _DynoSecrets:
    """The deployed app's secrets chain for commands run on its dyno (``heroku run raxx audit
    reconcile``): the entry point declares how to open it (``raxx.cli``, which may import the
    runtime; the areas may not), a command opens it on first use, so a command that needs no
    secret never waits on Infisical."""

    def __init__(self) -> None:
        self._opener: Callable[[], ChainSecrets] | None = None
        self._opened: ChainSecrets | None = None

    def declare(self, opener: Callable[[], ChainSecrets] | None) -> None:
        self._opener, self._opened = opener, None

    def get(self) -> ChainSecrets | None:
        """The chain (opened once), or None when this process is not a deployed app's."""
        if self._opened is None and self._opener is not None:
            self._opened = self._opener()
        return self._opened


#: Set by the entry point on a dyno; read by the command-line areas that need a secret.
DYNO_SECRETS = _DynoSecrets()
