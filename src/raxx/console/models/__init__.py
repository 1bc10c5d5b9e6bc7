"""The console's ORM models.

Every model module is imported here (as a plain ``import``, which is safe when a model
module is itself the first thing imported) so Alembic and the app see all tables.
"""

import raxx.console.apitoken.models
import raxx.console.audit.models
import raxx.console.auth.models
import raxx.console.confirmation.models  # noqa: F401
from raxx.console.models.base import Base

__all__ = ["Base"]
