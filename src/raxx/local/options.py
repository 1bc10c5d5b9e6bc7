"""What ``raxx up`` is asked for: data directory, host and ports, the optional services."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from raxx.common.errors import ConfigError
from raxx.common.pgembed import port_is_free

RAPTOR_ENVS = ("staging", "prod")
ENV_COLORS = {"staging": ("STAGING", "#b45309", False), "prod": ("PRODUCTION", "#b91c1c", True)}


@dataclass
class UpOptions:
    data_dir: str = ".raxx"
    console_port: int = 8000
    staging_port: int = 8101
    prod_port: int = 8102
    monitor: bool = True
    host: str = "127.0.0.1"
    monitor_interval: float = 30.0
    #: also start the demo OpenID provider and sign the console in through it (``--oidc-demo``)
    oidc_demo: bool = False
    oidc_port: int = 8103
    #: overrides for tests: a server to provision on instead of the embedded one
    admin_url: str | None = None
    database_prefix: str = "raxx"
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def raptor_ports(self) -> dict[str, int]:
        return {"staging": self.staging_port, "prod": self.prod_port}


def check_ports(options: UpOptions) -> None:
    ports = [
        ("--console-port", options.console_port),
        ("--staging-port", options.staging_port),
        ("--prod-port", options.prod_port),
    ]
    if options.oidc_demo:
        ports.append(("--oidc-port", options.oidc_port))
    for flag, port in ports:
        if not port_is_free(port, options.host):
            raise ConfigError(f"port {port} is in use; stop what holds it or pass {flag} with another port")
