"""``raxx raptor ...``: serve the API, manage its tokens."""

from __future__ import annotations

import click

from raxx.common.settings import load_settings


@click.group()
def raptor() -> None:
    """The Raptor trading API (one deployment per environment)."""


@raptor.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, envvar="PORT", default=8101, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve Raptor; its environment and database come from RAPTOR_* settings."""
    import uvicorn

    from raxx.common.logging import configure_logging
    from raxx.raptor.app import create_app
    from raxx.raptor.config import RaptorSettings

    settings = load_settings(RaptorSettings)
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
