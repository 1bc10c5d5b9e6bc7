"""The deploy policy: ``deploy/policy.toml`` in the repository, parsed and validated.

A policy that cannot be read is refused with the file, the line and the reason, so a
typo never silently weakens a gate. Every key is documented in
``docs/architecture/prod-deploy-gating.md``.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path, PurePath
from typing import Any

from raxx.common.durations import parse_duration
from raxx.common.environments import ENV_NAME_RE
from raxx.common.errors import ConfigError
from raxx.gate.ledger.models import TRIGGERS

SMOKE_CHECKS = ("identity", "readyz", "console_healthz", "console_login", "console_proxy")


class PolicyError(ConfigError):
    code = "invalid_policy"


@dataclass(frozen=True)
class SoakRule:
    """How long and how healthy a release must run on ``source`` before it may come here."""

    source: str
    window: timedelta
    sample_interval: timedelta
    min_samples: int
    min_success_rate: float
    max_sample_gap: timedelta


@dataclass(frozen=True)
class EnvironmentPolicy:
    app: str
    name: str
    url: str | None
    triggers: tuple[str, ...]
    tag_pattern: str | None = None
    soak: SoakRule | None = None
    approvals_required: int = 0
    smoke: tuple[str, ...] = ()
    smoke_environments: tuple[str, ...] = ()

    @property
    def service(self) -> str:
        """The deployment's service name: ``<app>-<env>``."""
        return f"{self.app}-{self.name}"

    def tag_matches(self, tag: str) -> bool:
        return self.tag_pattern is not None and fnmatch.fnmatchcase(tag, self.tag_pattern)


@dataclass(frozen=True)
class AppPolicy:
    name: str
    health_path: str
    identity_path: str
    environments: dict[str, EnvironmentPolicy]


@dataclass(frozen=True)
class SmokeSettings:
    console_app: str
    console_environment: str
    token_secret: str
    login_path: str = "/login"
    proxy_path: str = "/api/{env}/orders?limit=1"


@dataclass(frozen=True)
class RetirementPolicy:
    """Thresholds of the checklist that retires an old deployment (``console-staging``)."""

    subject: str
    app: str
    environment: str
    feature: str
    min_days_in_prod: int
    incident_component: str
    min_health_success_rate: float
    min_health_samples: int
    min_switch_events: int
    smoke_environment: str
    attestations: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    source: str
    apps: dict[str, AppPolicy]
    smoke: SmokeSettings
    retirements: dict[str, RetirementPolicy] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        """The policy file's name without its folder: what a refusal of a name someone asked for
        says (it reaches the console's pages, which have no business showing server paths)."""
        return PurePath(self.source).name

    def app(self, name: str) -> AppPolicy:
        """The app ``name``; an app the policy does not name is a ``PolicyError`` (as everywhere)."""
        if name not in self.apps:
            known = ", ".join(sorted(self.apps))
            raise PolicyError(f"no app {name!r} in the release policy ({self.file_name}; known: {known})")
        return self.apps[name]

    def environment(self, app: str, env: str) -> EnvironmentPolicy:
        envs = self.app(app).environments
        if env not in envs:
            known = ", ".join(envs)
            raise PolicyError(
                f"app {app!r} has no environment {env!r} in the release policy ({self.file_name}; known: {known})"
            )
        return envs[env]

    def deployments(self) -> list[EnvironmentPolicy]:
        return [env for app in self.apps.values() for env in app.environments.values()]

    def deployments_in(self, env: str) -> list[EnvironmentPolicy]:
        """Every app's deployment to ``env``; none is a ``PolicyError``, like an unknown app."""
        found = [deployment for deployment in self.deployments() if deployment.name == env]
        if not found:
            known = ", ".join(sorted({deployment.name for deployment in self.deployments()}))
            raise PolicyError(f"no environment {env!r} in the release policy ({self.file_name}; known: {known})")
        return found

    def retirement(self, subject: str) -> RetirementPolicy:
        if subject not in self.retirements:
            raise PolicyError(f"no [retirement.{subject}] table in the release policy ({self.file_name})")
        return self.retirements[subject]


def format_duration(delta: timedelta) -> str:
    """``17h 12m`` style, for reasons a person reads."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = " ".join(p for p in parts if p)
    return text or f"{secs}s"


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file; raise ``PolicyError`` naming the line and the reason."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path} (set GATE_POLICY_FILE)") from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "policy.toml") -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    return _PolicyReader(data, source, _KeyLines(text)).read()


class _KeyLines:
    """Where each dotted key is written, so errors can name the line."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            if header := self._HEADER.match(line):
                table = self._norm(header.group(1))
                self.lines.setdefault(table, number)
            elif key := self._KEY.match(line):
                dotted = f"{table}.{self._norm(key.group(1))}" if table else self._norm(key.group(1))
                self.lines.setdefault(dotted, number)

    @staticmethod
    def _norm(path: str) -> str:
        return ".".join(part.strip().strip("\"'") for part in path.split("."))

    def line_of(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None


class _PolicyReader:
    def __init__(self, data: Mapping[str, Any], source: str, lines: _KeyLines) -> None:
        self.data = data
        self.source = source
        self.lines = lines

    def fail(self, path: str, reason: str) -> PolicyError:
        line = self.lines.line_of(path)
        where = f"{self.source}:{line}" if line else self.source
        return PolicyError(f"{where}: {path}: {reason}")

    def table(self, value: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "must be a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def string(self, table: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(f"{path}.{key}", "must be a non-empty string")
        return value

    def strings(
        self, table: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{path}.{key}", "must be a list of strings")
        for item in value:
            if allowed is not None and item not in allowed:
                raise self.fail(f"{path}.{key}", f"{item!r} is not one of {', '.join(allowed)}")
        return tuple(value)

    def number(self, table: Mapping[str, Any], key: str, path: str, default: float, *, lo: float, hi: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise self.fail(f"{path}.{key}", f"must be a number between {lo:g} and {hi:g}, got {value!r}")
        return float(value)

    def duration(self, table: Mapping[str, Any], key: str, path: str, default: str) -> timedelta:
        try:
            value = parse_duration(table.get(key, default))
        except ValueError as exc:
            raise self.fail(f"{path}.{key}", str(exc)) from None
        if value <= timedelta(0):
            raise self.fail(f"{path}.{key}", "must be longer than zero")
        return value

    def read(self) -> Policy:
        self.table(self.data, "", {"apps", "smoke", "retirement"})
        apps_table = self.data.get("apps")
        if not isinstance(apps_table, Mapping) or not apps_table:
            raise self.fail("apps", "expected at least one [apps.NAME] table")
        apps = {name: self.app(name, table) for name, table in apps_table.items()}
        policy = Policy(
            source=self.source,
            apps=apps,
            smoke=self.smoke(self.data.get("smoke", {})),
            retirements={
                name: self.retirement(name, table) for name, table in dict(self.data.get("retirement", {})).items()
            },
        )
        self.cross_check(policy)
        return policy

    def app(self, name: str, raw: Any) -> AppPolicy:
        path = f"apps.{name}"
        if not ENV_NAME_RE.match(name):
            raise self.fail(path, f"app name must match {ENV_NAME_RE.pattern}")
        table = self.table(raw, path, {"health_path", "identity_path", "environments"})
        envs = table.get("environments")
        if not isinstance(envs, Mapping) or not envs:
            raise self.fail(f"{path}.environments", "expected at least one [apps.NAME.environments.ENV] table")
        return AppPolicy(
            name=name,
            health_path=self.string(table, "health_path", path, "/readyz"),
            identity_path=self.string(table, "identity_path", path, "/v1/identity"),
            environments={env: self.environment(name, env, t) for env, t in envs.items()},
        )

    def environment(self, app: str, name: str, raw: Any) -> EnvironmentPolicy:
        path = f"apps.{app}.environments.{name}"
        if not ENV_NAME_RE.match(name):
            raise self.fail(path, f"environment name must match {ENV_NAME_RE.pattern}")
        allowed = {"url", "triggers", "tag_pattern", "soak", "approvals", "smoke", "smoke_environments"}
        table = self.table(raw, path, allowed)
        triggers = self.strings(table, "triggers", path, TRIGGERS)
        if not triggers:
            raise self.fail(f"{path}.triggers", "must allow at least one trigger")
        tag_pattern = table.get("tag_pattern")
        if "tag" in triggers and not isinstance(tag_pattern, str):
            raise self.fail(f"{path}.tag_pattern", "required when triggers allow 'tag' (e.g. \"v*\")")
        url = table.get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise self.fail(f"{path}.url", "must be an http(s) URL")
        return EnvironmentPolicy(
            app=app,
            name=name,
            url=url.rstrip("/") if isinstance(url, str) else None,
            triggers=triggers,
            tag_pattern=tag_pattern if isinstance(tag_pattern, str) else None,
            soak=self.soak(table["soak"], f"{path}.soak") if "soak" in table else None,
            approvals_required=self.approvals(table.get("approvals"), f"{path}.approvals"),
            smoke=self.strings(table, "smoke", path, SMOKE_CHECKS),
            smoke_environments=self.strings(table, "smoke_environments", path),
        )

    def soak(self, raw: Any, path: str) -> SoakRule:
        allowed = {"source", "window", "sample_interval", "min_samples", "min_success_rate", "max_sample_gap"}
        table = self.table(raw, path, allowed)
        window = self.duration(table, "window", path, "24h")
        interval = self.duration(table, "sample_interval", path, "30s")
        expected = int(window / interval)
        rule = SoakRule(
            source=self.string(table, "source", path, "staging"),
            window=window,
            sample_interval=interval,
            min_samples=int(self.number(table, "min_samples", path, int(expected * 0.9), lo=1, hi=10**9)),
            min_success_rate=self.number(table, "min_success_rate", path, 0.99, lo=0.0, hi=1.0),
            max_sample_gap=self.duration(table, "max_sample_gap", path, "5m"),
        )
        if rule.min_samples > expected:
            raise self.fail(f"{path}.min_samples", f"{rule.min_samples} is more than the window can hold ({expected})")
        if rule.max_sample_gap < interval:
            raise self.fail(f"{path}.max_sample_gap", "must be at least the sample interval")
        return rule

    def approvals(self, raw: Any, path: str) -> int:
        if raw is None:
            return 0
        table = self.table(raw, path, {"required", "allow_self_approval"})
        if table.get("allow_self_approval", False) is not False:
            raise self.fail(f"{path}.allow_self_approval", "self-approval is never allowed; remove the key")
        return int(self.number(table, "required", path, 1, lo=1, hi=10))

    def smoke(self, raw: Any) -> SmokeSettings:
        table = self.table(
            raw, "smoke", {"console_app", "console_environment", "token_secret", "login_path", "proxy_path"}
        )
        proxy_path = self.string(table, "proxy_path", "smoke", "/api/{env}/orders?limit=1")
        if "{env}" not in proxy_path:
            raise self.fail("smoke.proxy_path", "must contain {env}")
        return SmokeSettings(
            console_app=self.string(table, "console_app", "smoke", "console"),
            console_environment=self.string(table, "console_environment", "smoke", "prod"),
            token_secret=self.string(table, "token_secret", "smoke", "GATE_CONSOLE_SMOKE_TOKEN"),
            login_path=self.string(table, "login_path", "smoke", "/login"),
            proxy_path=proxy_path,
        )

    def retirement(self, subject: str, raw: Any) -> RetirementPolicy:
        path = f"retirement.{subject}"
        allowed = {
            "app",
            "environment",
            "feature",
            "min_days_in_prod",
            "incident_component",
            "min_health_success_rate",
            "min_health_samples",
            "min_switch_events",
            "smoke_environment",
            "attestations",
        }
        table = self.table(raw, path, allowed)
        return RetirementPolicy(
            subject=subject,
            app=self.string(table, "app", path, "console"),
            environment=self.string(table, "environment", path, "prod"),
            feature=self.string(table, "feature", path, "env-switcher"),
            min_days_in_prod=int(self.number(table, "min_days_in_prod", path, 7, lo=1, hi=365)),
            incident_component=self.string(table, "incident_component", path, "env-switcher"),
            min_health_success_rate=self.number(table, "min_health_success_rate", path, 0.995, lo=0.0, hi=1.0),
            min_health_samples=int(self.number(table, "min_health_samples", path, 1, lo=1, hi=10**9)),
            min_switch_events=int(self.number(table, "min_switch_events", path, 1, lo=1, hi=10**9)),
            smoke_environment=self.string(table, "smoke_environment", path, "staging"),
            attestations=self.strings(table, "attestations", path),
        )

    def cross_check(self, policy: Policy) -> None:
        """References between tables: soak sources, smoke environments, retirement targets."""
        for env in policy.deployments():
            path = f"apps.{env.app}.environments.{env.name}"
            if env.soak and env.soak.source not in policy.apps[env.app].environments:
                raise self.fail(f"{path}.soak.source", f"{env.soak.source!r} is not an environment of {env.app}")
            if env.soak and env.soak.source == env.name:
                raise self.fail(f"{path}.soak.source", "an environment cannot soak on itself")
            uses_console = {"console_proxy", "console_login", "console_healthz"} & set(env.smoke)
            if uses_console and policy.smoke.console_app not in policy.apps:
                raise self.fail(f"{path}.smoke", f"console smoke checks need app {policy.smoke.console_app!r}")
        for subject, rule in policy.retirements.items():
            if rule.app not in policy.apps or rule.environment not in policy.apps[rule.app].environments:
                raise self.fail(f"retirement.{subject}.app", f"{rule.app}-{rule.environment} is not a deployment")
