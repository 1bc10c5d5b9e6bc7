"""Confirmations already used: a typed confirmation acts once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from raxx.console.models.base import Base


class UsedConfirmation(Base):
    """The nonce of every confirmation that was acted on, kept until it would have expired anyway."""

    __tablename__ = "console_used_confirmation"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    environment: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
