"""Raptor's declarative base (its own metadata: its own database and Alembic tree)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric
from sqlalchemy.orm import DeclarativeBase

from raxx.common.orm import IdMixin, TimestampMixin, new_metadata

__all__ = ["MONEY", "PRICE", "QUANTITY", "Base", "IdMixin", "TimestampMixin"]

#: Quantities allow fractional shares (8 places, like Alpaca's fractional trading).
QUANTITY = Numeric(28, 8, asdecimal=True)
#: Limit and fill prices: 4 places covers sub-dollar ticks.
PRICE = Numeric(20, 4, asdecimal=True)
#: Cash and cost amounts keep the exact product of a quantity and a price.
MONEY = Numeric(32, 12, asdecimal=True)


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {Decimal: QUANTITY}
