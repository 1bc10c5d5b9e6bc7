"""Which mutation Raptor performed for which request id (the console's reconciler asks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from raxx.raptor.models.base import Base

MUTATION_ACTIONS = ("order.submit", "order.cancel", "order.cancel_all", "trading.halt", "trading.resume")


class RequestRecord(Base):
    """One row per request id that changed something; written in the mutation's transaction."""

    __tablename__ = "request_log"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    token_id: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
