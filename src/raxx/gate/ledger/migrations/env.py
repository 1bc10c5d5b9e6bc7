from raxx.common.alembic_env import run_migrations
from raxx.gate.ledger.models import Base

run_migrations(Base.metadata, lock_name="raxx.migrate.ledger")
