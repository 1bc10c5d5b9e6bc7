"""Raptor's record of every order: who placed it, what the broker did with it."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, FetchedValue, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raxx.raptor.models.base import PRICE, QUANTITY, Base
from raxx.raptor.vocabulary import OPEN_STATUSES, ORDER_STATUSES, ORDER_TYPES, SIDES, TIMES_IN_FORCE


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"status IN {ORDER_STATUSES!r}", name="status"),
        CheckConstraint(f"side IN {SIDES!r}", name="side"),
        CheckConstraint(f"type IN {ORDER_TYPES!r}", name="type"),
        CheckConstraint(f"time_in_force IN {TIMES_IN_FORCE!r}", name="time_in_force"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("(type = 'limit') = (limit_price IS NOT NULL)", name="limit_price_iff_limit"),
        # Newest-first pagination walks this index; the cursor is (created_at, id).
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_symbol_created_at", "symbol", "created_at"),
        Index("ix_orders_open", "updated_at", postgresql_where=text(f"status IN {OPEN_STATUSES!r}")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: The idempotency key: the database, not a Python lock, guarantees one order per id.
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
    #: Fills as the broker reported them: [{"quantity": str, "price": str, "at": iso}].
    fills: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who did it: the token, the operator the console named, the request that carried it.
    token_id: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(128))
    #: The order as the API answers it, rendered on every write by the ``orders_render``
    #: trigger (``raptor/sql/raptor_orders_render.sql``); read as text by the order list, so
    #: the ORM never loads it (deferred) and never writes it (the server's value).
    wire_json: Mapped[str] = mapped_column(Text, deferred=True, server_default=FetchedValue())
