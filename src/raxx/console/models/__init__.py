"""The console's ORM models.

Every model module is imported here (as a plain ``import``, which is safe when a model
module is itself the first thing imported) so Alembic and the app see all tables.
"""

from sqlalchemy import MetaData

import raxx.console.apitoken.models
import raxx.console.audit.models
import raxx.console.auth.models
import raxx.console.confirmation.models  # noqa: F401
from raxx.common.alerts import tables as alert_tables
from raxx.console.models.base import Base

#: Every table of the console's database as the code declares it (its models and the alert
#: outbox): Alembic's target, and what tests/test_models_current.py holds a migrated database to.
SCHEMA: tuple[MetaData, ...] = (Base.metadata, alert_tables.metadata)

__all__ = ["SCHEMA", "Base"]
