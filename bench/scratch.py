"""A throw-away migrated database for a benchmark, on the test PostgreSQL.

``RAXX_TEST_DATABASE_URL`` (else 127.0.0.1:5432) as the admin; the database gets its own
owner and runtime roles, like a deployment's, and all three are dropped afterwards.
Benchmarks import it as ``from scratch import scratch_database`` (they run as
``python bench/NAME.py``, which puts this folder on the path).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from raxx.common.migrations import upgrade
from raxx.common.provision import ProvisionedDatabase, drop_database, drop_role, provision_database


@contextmanager
def scratch_database(tree: str) -> Iterator[ProvisionedDatabase]:
    admin = os.environ.get("RAXX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    run = secrets.token_hex(3)
    name, owner, runtime = f"rxb_{run}_{tree}", f"rxb_{run}_owner", f"rxb_{run}_app"
    db = provision_database(
        admin, database=name, owner=owner, owner_password="o" + run, runtime=runtime, runtime_password="a" + run
    )
    try:
        upgrade(tree, db.owner_url, runtime_url=db.runtime_url)
        yield db
    finally:
        drop_database(admin, name)
        for role in (owner, runtime):
            drop_role(admin, role)
