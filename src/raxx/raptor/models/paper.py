"""The built-in paper broker's book, kept in the environment's own database.

These tables belong to the paper venue, not to Raptor's order record: Raptor reaches
them only through the ``Broker`` protocol, exactly as it would reach Alpaca.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raxx.raptor.models.base import MONEY, PRICE, QUANTITY, Base
from raxx.raptor.vocabulary import OPEN_STATUSES


class PaperAccount(Base):
    """The single paper account of this environment (id = 1); its account id never changes."""

    __tablename__ = "paper_account"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), unique=True)
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    cash: Mapped[Decimal] = mapped_column(MONEY)
    #: Cash promised to open buy orders; buying power is cash minus this.
    reserved: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaperOrder(Base):
    __tablename__ = "paper_orders"
    __table_args__ = (Index("ix_paper_orders_open", "symbol", postgresql_where=text(f"status IN {OPEN_STATUSES!r}")),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_order_id: Mapped[str] = mapped_column(String(128), unique=True)
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(8))
    time_in_force: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    limit_price: Mapped[Decimal | None] = mapped_column(PRICE)
    status: Mapped[str] = mapped_column(String(20))
    filled_quantity: Mapped[Decimal] = mapped_column(QUANTITY, server_default="0")
    filled_avg_price: Mapped[Decimal | None] = mapped_column(QUANTITY)
    #: Cash still set aside for the unfilled part of a buy.
    reserved_cash: Mapped[Decimal] = mapped_column(MONEY, server_default="0")
    fills: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PaperPosition(Base):
    __tablename__ = "paper_positions"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY, server_default="0")
    #: Shares promised to open sell orders; only quantity minus held may be sold.
    held: Mapped[Decimal] = mapped_column(QUANTITY, server_default="0")
    cost_basis: Mapped[Decimal] = mapped_column(MONEY, server_default="0")


class PaperPrice(Base):
    """A price pinned by hand (tests, demos); while pinned it replaces the seeded path."""

    __tablename__ = "paper_prices"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    price: Mapped[Decimal] = mapped_column(PRICE)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
