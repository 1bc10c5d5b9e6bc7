"""The console's declarative base (its own metadata: its own database and Alembic tree)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from raxx.common.orm import IdMixin, TimestampMixin, new_metadata

__all__ = ["Base", "IdMixin", "TimestampMixin"]


class Base(DeclarativeBase):
    metadata = new_metadata()
