"""The console's ORM models. Import every model module here so Alembic sees the metadata."""

from raxx.console.models.base import Base

__all__ = ["Base"]
