"""The audit tables. Rows are written only through ``audit_append`` (see the migration).

``audit_event`` is a contract: the release gate reads these column names over SQL.
``seq`` is 1-based and gapless, assigned under the append lock (never from a
sequence, which can skip numbers and commit out of order), so a gap means deletion.
``recorded_at`` (database clock) never decreases along ``seq``; ``occurred_at`` is the
acting process's clock and may.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raxx.console.models.base import Base

PHASES = ("attempt", "outcome")
OUTCOMES = ("ok", "denied", "failed", "unknown")


class AuditEvent(Base):
    """One audited event: an attempt, its outcome, or a single event (an outcome with no attempt)."""

    __tablename__ = "audit_event"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[uuid.UUID] = mapped_column(nullable=False, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    actor_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    session_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    environment: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    phase: Mapped[str] = mapped_column(Text, nullable=False)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("audit_event.event_id"), nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_ip: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Which canonical body the hash covers (``canonical.BODY_VERSION``; 1: before session_env/origin).
    body_version: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default=text("1"))
    #: The environment the session had selected when the event was recorded (null: no session).
    session_env: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The console page (path) the request came from, when known.
    origin: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint("phase IN ('attempt', 'outcome')", name="phase_known"),
        CheckConstraint("outcome IS NULL OR outcome IN ('ok', 'denied', 'failed', 'unknown')", name="outcome_known"),
        CheckConstraint(
            "(phase = 'attempt' AND outcome IS NULL AND attempt_id IS NULL)"
            " OR (phase = 'outcome' AND outcome IS NOT NULL)",
            name="phase_outcome_shape",
        ),
        CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name="hash_length"),
        CheckConstraint("body_version IN (1, 2)", name="body_version_known"),
        # One outcome per attempt: a second writer (two reconcilers, a late request) fails loudly.
        Index("uq_audit_event_attempt_id", "attempt_id", unique=True, postgresql_where=text("attempt_id IS NOT NULL")),
        # The audit page filters by these and pages by seq (newest first).
        Index("ix_audit_event_environment_seq", "environment", "seq"),
        Index("ix_audit_event_action_seq", "action", "seq"),
        Index("ix_audit_event_actor_name_seq", "actor_name", "seq"),
        Index("ix_audit_event_environment_action_seq", "environment", "action", "seq"),
        Index("ix_audit_event_recorded_at_seq", "recorded_at", "seq"),
        Index(
            "ix_audit_event_not_ok_seq",
            "outcome",
            "seq",
            postgresql_where=text("outcome IN ('denied', 'failed', 'unknown')"),
        ),
        Index("ix_audit_event_request_id", "request_id", postgresql_where=text("request_id IS NOT NULL")),
        # The reconciler looks for open attempts only.
        Index("ix_audit_event_open_attempts", "recorded_at", postgresql_where=text("phase = 'attempt'")),
    )


class AuditCheckpoint(Base):
    """A signed statement "the chain had ``hash`` at ``seq``" (``seq`` 0: the empty chain)."""

    __tablename__ = "audit_checkpoint"

    checkpoint_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    origin: Mapped[str] = mapped_column(Text, nullable=False)
    algorithm: Mapped[str] = mapped_column(Text, nullable=False)
    key_id: Mapped[str] = mapped_column(Text, nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (
        CheckConstraint("seq >= 0", name="seq_not_negative"),
        Index("ix_audit_checkpoint_created_at", "created_at"),
    )
