"""Environments and the registry that names them.

An environment is a routing key: its name appears in URLs, tokens, audit events and
logs. The registry is data (a TOML file), so a third environment needs no code change.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from raxx.common.actions import DEFAULT_CONFIRM_ACTIONS, Action, confirmable_names
from raxx.common.errors import ConfigError, UnknownEnvironment

ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
#: The packaged registry (staging and prod), used when ``CONSOLE_ENVIRONMENTS_FILE`` is not set.
DEFAULT_REGISTRY_FILE = Path(__file__).parent / "environments.toml"
REGISTRY_FILE_VAR = "CONSOLE_ENVIRONMENTS_FILE"


def validate_env_name(name: str) -> str:
    """Return ``name`` if it is a well-formed environment name, else raise."""
    if not isinstance(name, str) or not ENV_NAME_RE.match(name):
        raise UnknownEnvironment(f"not a valid environment name: {name!r}")
    return name


def registry_file() -> Path:
    """The registry this process uses: ``CONSOLE_ENVIRONMENTS_FILE``, else the packaged one."""
    return Path(os.environ.get(REGISTRY_FILE_VAR) or DEFAULT_REGISTRY_FILE)


@dataclass(frozen=True)
class EnvironmentSpec:
    """What the console knows about one environment before asking its backend."""

    name: str
    label: str
    color: str
    raptor_url: str
    token_secret: str
    protected: bool = False
    confirm_actions: tuple[str, ...] = field(default=())

    @property
    def text_color(self) -> str:
        """Black or white, whichever reads better on the banner color (WCAG luminance)."""
        r, g, b = (int(self.color[i : i + 2], 16) / 255 for i in (1, 3, 5))

        def lin(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        luminance = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
        return "#000000" if luminance > 0.179 else "#ffffff"

    def needs_confirmation(self, action: Action | str) -> bool:
        """Whether this environment asks a typed confirmation before ``action`` (an action of
        :mod:`raxx.common.actions`, or its name)."""
        name = action if isinstance(action, str) else action.name
        return self.protected and name in self.confirm_actions


class EnvironmentRegistry(Mapping[str, EnvironmentSpec]):
    """An ordered, immutable mapping of environment name to its spec."""

    def __init__(self, specs: list[EnvironmentSpec], *, default: str | None = None) -> None:
        if not specs:
            raise ConfigError("the environment registry lists no environment")
        self._specs = {spec.name: spec for spec in specs}
        if len(self._specs) != len(specs):
            raise ConfigError("the environment registry names an environment twice")
        self.default = default or next((s.name for s in specs if not s.protected), specs[0].name)
        if self.default not in self._specs:
            raise ConfigError(f"default environment {self.default!r} is not in the registry")

    def __getitem__(self, name: str) -> EnvironmentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownEnvironment(f"unknown environment: {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    @classmethod
    def from_toml(cls, path: Path, *, url_overrides: Mapping[str, str] | None = None) -> EnvironmentRegistry:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"environment registry file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"environment registry {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=str(path), url_overrides=url_overrides)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "registry",
        url_overrides: Mapping[str, str] | None = None,
    ) -> EnvironmentRegistry:
        envs = data.get("environments")
        if not isinstance(envs, Mapping) or not envs:
            raise ConfigError(f"{source}: expected an [environments.NAME] table per environment")
        specs = [_spec_from_table(name, table, source, (url_overrides or {}).get(name)) for name, table in envs.items()]
        default = data.get("default")
        return cls(specs, default=default if isinstance(default, str) else None)


def _spec_from_table(name: str, table: Any, source: str, url_override: str | None) -> EnvironmentSpec:
    where = f"{source}: [environments.{name}]"
    if not ENV_NAME_RE.match(name):
        raise ConfigError(f"{where}: name must match {ENV_NAME_RE.pattern}")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(table) - {"label", "color", "raptor_url", "token_secret", "protected", "confirm_actions"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    color = str(table.get("color", "#6b7280"))
    if not COLOR_RE.match(color):
        raise ConfigError(f"{where}: color must look like #rrggbb, got {color!r}")
    raptor_url = url_override or table.get("raptor_url")
    if not isinstance(raptor_url, str) or not _backend_url(raptor_url):
        raise ConfigError(f"{where}: raptor_url must be an http(s) URL: a host, no credentials, query or fragment")
    token_secret = table.get("token_secret", f"RAPTOR_TOKEN_{name.upper().replace('-', '_')}")
    protected = bool(table.get("protected", False))
    confirm = table.get("confirm_actions", list(DEFAULT_CONFIRM_ACTIONS) if protected else [])
    if not isinstance(confirm, list) or not all(isinstance(a, str) for a in confirm):
        raise ConfigError(f"{where}: confirm_actions must be a list of action names")
    unknown_actions = sorted(set(confirm) - confirmable_names())
    if unknown_actions:
        # A typo here would silently drop a confirmation in a protected environment: refuse it.
        raise ConfigError(
            f"{where}: confirm_actions names {unknown_actions}, which ask no confirmation;"
            f" the actions that do: {sorted(confirmable_names())}"
        )
    return EnvironmentSpec(
        name=name,
        label=str(table.get("label", name.upper())),
        color=color,
        raptor_url=raptor_url.rstrip("/"),
        token_secret=str(token_secret),
        protected=protected,
        confirm_actions=tuple(confirm),
    )


def _backend_url(url: str) -> bool:
    """``http(s)://host[:port][/path]``: what the console's Raptor client can call."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    plain = not (parts.username or parts.password or parts.query or parts.fragment)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and plain
