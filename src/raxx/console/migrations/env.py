from raxx.common.alembic_env import run_migrations
from raxx.console.models import Base

run_migrations(Base.metadata, lock_name="raxx.migrate.console")
