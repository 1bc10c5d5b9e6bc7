"""The body of every tree's ``env.py``: online migrations, serialized by an advisory lock.

Two processes migrating at once (two release phases, ``raxx up`` twice) wait for each
other instead of racing on DDL.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from alembic import context
from sqlalchemy import MetaData, pool, text
from sqlalchemy import create_engine as create_sync_engine


def run_migrations(metadata: Sequence[MetaData], *, lock_name: str) -> None:
    """Migrate to what the script asks for; ``metadata`` is every table the tree's database has
    as the code declares it (what ``alembic revision --autogenerate`` compares with)."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    runtime_role = config.attributes.get("runtime_role")
    engine = create_sync_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=list(metadata),
            compare_type=True,
            compare_server_default=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(lock_name.encode())})
            context.get_context().opts["runtime_role"] = runtime_role
            context.run_migrations()
    engine.dispose()


def runtime_role() -> str | None:
    """The runtime role to grant privileges to, from inside a migration (None: same as owner)."""
    value = context.get_context().opts.get("runtime_role")
    return str(value) if value else None
