"""Where each deployment answers: ``raxx up``'s topology file, else ``GATE_URL_<APP>_<ENV>``,
else the policy's URLs."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from raxx.common.errors import ConfigError, Unavailable
from raxx.gate.policy import Policy


@dataclass(frozen=True)
class ServiceInfo:
    service: str
    app: str
    environment: str
    url: str
    release: str | None = None
    pid: int | None = None
    #: When ``raxx up`` last started it on purpose (start-up or deploy; not after a crash).
    started_at: datetime | None = None


@dataclass(frozen=True)
class Topology:
    """The local topology written by ``raxx up`` at ``<data_dir>/run/topology.json``."""

    data_dir: Path
    services: dict[str, ServiceInfo]

    @classmethod
    def read(cls, path: Path) -> Topology:
        """The topology in ``path``; a file that is not one ``raxx up`` writes is a ``ConfigError``."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise Unavailable(f"topology file {path} not found; is `raxx up` running?") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"topology file {path} (GATE_TOPOLOGY_FILE) is not valid JSON: {exc}") from None
        try:
            return cls(data_dir=Path(data["data_dir"]), services=_services(data.get("services", {})))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"topology file {path} (GATE_TOPOLOGY_FILE) is not a topology `raxx up` writes "
                f"(an object with data_dir and services; each service with app, environment and url): "
                f"{type(exc).__name__} {exc}"
            ) from None


def _services(raw: dict[str, Any]) -> dict[str, ServiceInfo]:
    return {
        name: ServiceInfo(
            service=name,
            app=str(item["app"]),
            environment=str(item["environment"]),
            url=str(item["url"]).rstrip("/"),
            release=item.get("release"),
            pid=item.get("pid"),
            started_at=_moment(item.get("started_at")),
        )
        for name, item in raw.items()
        if item.get("url") and item.get("environment")  # the monitor itself has neither
    }


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def url_variable(service: str) -> str:
    """``raptor-prod`` -> ``GATE_URL_RAPTOR_PROD``: where CI names a Heroku app's URL."""
    return "GATE_URL_" + service.upper().replace("-", "_")


class Locator:
    """Resolves a deployment's URL: the live topology when given, else a ``GATE_URL_*``
    variable (the Heroku apps' URLs, set in CI), else the policy."""

    def __init__(self, policy: Policy, topology_file: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.policy = policy
        self.topology_file = topology_file
        self.environ = os.environ if environ is None else environ

    def _configured(self, service: str) -> str | None:
        url = self.environ.get(url_variable(service), "").strip()
        return url.rstrip("/") or None

    def topology(self) -> Topology | None:
        return Topology.read(self.topology_file) if self.topology_file else None

    def url(self, app: str, environment: str) -> str:
        service = f"{app}-{environment}"
        topology = self.topology()
        if topology and service in topology.services:
            return topology.services[service].url
        if configured := self._configured(service):
            return configured
        env = self.policy.environment(app, environment)
        if env.url is None:
            raise ConfigError(f"no URL for {service}: not in the topology file and no url in the policy")
        return env.url

    def services(self) -> list[ServiceInfo]:
        """Every deployment the policy names, with its URL (unreachable ones are still listed)."""
        topology = self.topology()
        found: list[ServiceInfo] = []
        for env in self.policy.deployments():
            live = topology.services.get(env.service) if topology else None
            url = live.url if live else (self._configured(env.service) or env.url)
            if url:
                found.append(
                    ServiceInfo(
                        env.service,
                        env.app,
                        env.name,
                        url,
                        live.release if live else None,
                        started_at=live.started_at if live else None,
                    )
                )
        return found
