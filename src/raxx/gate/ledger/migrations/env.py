from raxx.common.alembic_env import run_migrations
from raxx.gate.ledger.models import SCHEMA

run_migrations(SCHEMA, lock_name="raxx.migrate.ledger")
