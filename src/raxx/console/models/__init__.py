"""The console's ORM models. Import every model module here so Alembic sees the metadata."""

# Imported for their side effect: registering their tables on Base.metadata. The
# module form (not ``from ... import AuditEvent``) keeps the import cycle
# audit.models -> models.base -> models/__init__ harmless.
from raxx.console.audit import models as audit_models
from raxx.console.models.base import Base

__all__ = ["Base", "audit_models"]
