"""``raxx raptor ...``: serve the API, manage its tokens."""

from __future__ import annotations

import gc
import os

import click

from raxx.common.cliparams import LINE, PORT, EnvironmentName
from raxx.raptor.token.format import SCOPES  # stdlib only: --help stays light (tests/test_cli.py)


@click.group()
def raptor() -> None:
    """The Raptor trading API (one deployment per environment)."""


@raptor.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, envvar="PORT", default=8101, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve Raptor; its environment and database come from RAPTOR_* settings."""
    from raxx.common.asgi import run_server
    from raxx.common.logging import configure_logging
    from raxx.common.settings import load_settings
    from raxx.raptor.app import create_app
    from raxx.raptor.config import RaptorSettings

    settings = load_settings(RaptorSettings)
    configure_logging(settings.log_level)
    app = create_app(settings)
    # As the console does: what is built so far lives as long as the process; keep it out of
    # the cyclic GC's full collections, which otherwise walk it all. (The list's p99 under
    # wrk at c8: 9-73 ms in three runs before, 8-37 ms in four after; noisy, not only GC.)
    gc.freeze()
    run_server(app, host=host, port=port)


def _token_database_url(database_url: str | None) -> str:
    from raxx.common.errors import ConfigError

    url = database_url or os.environ.get("RAPTOR_DATABASE_URL")
    if not url:
        raise ConfigError("RAPTOR_DATABASE_URL is required but not set (or pass --database-url)")
    return url


@raptor.group()
def token() -> None:
    """Issue, list and revoke API tokens (each bound to one environment)."""


@token.command("issue")
@click.option(
    "--env",
    "environment",
    type=EnvironmentName(own_var="RAPTOR_ENVIRONMENT"),
    required=True,
    help="the environment the token is for (staging, prod)",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="repeat for several; trade and admin imply read",
)
@click.option("--name", default=None, help="who or what holds the token (default: the scopes)", type=LINE)
@click.option("--database-url", default=None, help="the environment's database (default: RAPTOR_DATABASE_URL)")
def issue(environment: str, scopes: tuple[str, ...], name: str | None, database_url: str | None) -> None:
    """Create a token and print it once; only its hash is stored."""
    from raxx.common.errors import ConfigError
    from raxx.raptor.token.service import issue_token_sync, refuse_another_deployments_database

    configured = os.environ.get("RAPTOR_ENVIRONMENT")
    if configured and configured != environment:
        raise ConfigError(f"refusing to issue a {environment!r} token: RAPTOR_ENVIRONMENT says this is {configured!r}")
    url = _token_database_url(database_url)
    refuse_another_deployments_database(url, environment)
    plaintext = issue_token_sync(
        url,
        environment=environment,
        scopes=list(scopes),
        name=name or f"{environment} {'+'.join(scopes)}",
    )
    click.echo(plaintext)
    click.echo("Store it now: it is not shown again.", err=True)


@token.command("list")
@click.option("--database-url", default=None, help="the environment's database (default: RAPTOR_DATABASE_URL)")
def list_tokens(database_url: str | None) -> None:
    """List tokens: id, environment, scopes, name, created, revoked. Never the secret."""
    from raxx.raptor.token.service import list_tokens_sync

    for record in list_tokens_sync(_token_database_url(database_url)):
        revoked = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
        click.echo(
            f"{record.id}  {record.environment:<8} {','.join(record.scopes):<16} "
            f"{record.created_at:%Y-%m-%d %H:%M}  {revoked:<24} {record.name}"
        )


@token.command("revoke")
@click.argument("token_id", type=LINE)
@click.option("--database-url", default=None, help="the environment's database (default: RAPTOR_DATABASE_URL)")
def revoke(token_id: str, database_url: str | None) -> None:
    """Revoke a token by its id (the part after the environment in the token), or by the whole token."""
    from raxx.raptor.token.service import revoke_token_sync

    click.echo(f"revoked {revoke_token_sync(_token_database_url(database_url), token_id)}")
