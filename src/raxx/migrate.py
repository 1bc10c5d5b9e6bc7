"""Which URLs a ``raxx migrate TREE`` runs with, from each app's own settings.

Lives beside ``cli`` because it reads every app's settings (raptor, console, gate).
"""

from __future__ import annotations

import os

from raxx.common.errors import ConfigError

_URL_VARS = {
    "raptor": ("RAPTOR_MIGRATION_DATABASE_URL", "RAPTOR_DATABASE_URL"),
    "console": ("CONSOLE_MIGRATION_DATABASE_URL", "CONSOLE_DATABASE_URL"),
    "ledger": ("GATE_MIGRATION_DATABASE_URL", "GATE_DATABASE_URL"),
}


def migration_urls(tree: str, database_url: str | None, runtime_url: str | None) -> tuple[str, str | None]:
    """The owner URL to migrate with and the runtime URL whose role gets privileges.

    Heroku's release phase has one ``DATABASE_URL``; it is used for both when the
    app-specific variables are absent.
    """
    migration_var, runtime_var = _URL_VARS[tree]
    owner = (
        database_url or os.environ.get(migration_var) or os.environ.get(runtime_var) or os.environ.get("DATABASE_URL")
    )
    if not owner:
        raise ConfigError(f"{runtime_var} is required but not set (or pass --database-url)")
    runtime = runtime_url or os.environ.get(runtime_var)
    return owner, runtime
