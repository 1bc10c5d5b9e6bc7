"""Security tests reuse the console's real Raptor servers and console app fixtures."""

from tests.console.conftest import console, console_asgi, raptors, registry_file

__all__ = ["console", "console_asgi", "raptors", "registry_file"]
