"""Raptor's ORM models. Import every model module here so Alembic sees the metadata."""

from raxx.raptor.models.base import Base

__all__ = ["Base"]
