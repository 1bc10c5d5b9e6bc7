"""``raxx console ...``: serve the console and manage its operators (``user``, ``token``).

Every command that changes state declares its audit action (``@audited_command``) and runs
through :func:`~raxx.console.command_runner.run_audited`: the attempt is committed before its
transaction starts (if it cannot be, nothing happens), the outcome after it ends, with the
same action names and parameters as the console's pages. The others declare
``@unaudited(reason)`` and read in a read-only transaction
(:func:`~raxx.console.command_runner.run_in_db`).
"""

from __future__ import annotations

import gc
import os

import click

from raxx.common.cliparams import PORT
from raxx.common.errors import ConfigError
from raxx.console.audit.cli import unaudited
from raxx.console.token_commands import token
from raxx.console.user_commands import user


@click.group()
def console() -> None:
    """The operator console (one deployment, an environment switcher)."""


@unaudited("serves the console: its routes audit every change (AuditedRoute)")
@console.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, envvar="PORT", default=8000, show_default=True)
@click.option("--proxy-headers/--no-proxy-headers", default=False, help="trust X-Forwarded-* (behind a router)")
def serve(host: str, port: int, proxy_headers: bool) -> None:
    """Serve the console; settings come from CONSOLE_* variables."""
    from raxx.common.asgi import run_server
    from raxx.common.logging import configure_logging
    from raxx.common.settings import load_settings
    from raxx.console.app import create_app
    from raxx.console.config import ConsoleSettings

    settings = load_settings(ConsoleSettings)
    configure_logging(settings.log_level)
    app = create_app(settings)
    # Everything imported and built so far lives as long as the process: keep it out of the
    # cyclic GC's full collections, which otherwise walk it all (measured: one ~90 ms pause
    # in 300 environment switches, bench/README.md "Console").
    gc.freeze()
    run_server(app, host=host, port=port, proxy_headers=proxy_headers)


@unaudited("serves a demo identity provider; the console database is not touched")
@console.command("oidc-demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8103, show_default=True)
@click.option("--client-id", default="raxx-console", show_default=True)
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, required=True, help="the console's callback (repeatable)"
)
def oidc_demo(host: str, port: int, client_id: str, redirect_uris: tuple[str, ...]) -> None:
    """Serve the demo OpenID provider (raxx up --oidc-demo): users stella (staging operator) and
    paul (prod operator). Secrets come from RAXX_OIDC_DEMO_CLIENT_SECRET and RAXX_OIDC_DEMO_PASSWORD."""
    from raxx.common.asgi import run_server
    from raxx.console.auth.demo_provider import DemoClient, DemoProvider, demo_users

    secret, password = os.environ.get("RAXX_OIDC_DEMO_CLIENT_SECRET"), os.environ.get("RAXX_OIDC_DEMO_PASSWORD")
    if not secret or not password:
        raise ConfigError("RAXX_OIDC_DEMO_CLIENT_SECRET and RAXX_OIDC_DEMO_PASSWORD must be set")
    provider = DemoProvider(
        f"http://{host}:{port}",
        users=demo_users(password),
        clients=[DemoClient(client_id, secret, redirect_uris)],
    )
    run_server(provider.app(), host=host, port=port, proxy_headers=False)


console.add_command(user)
console.add_command(token)
