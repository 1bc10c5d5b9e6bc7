"""Operators, their per-environment roles, server-side sessions and login attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raxx.console.auth.names import NAME_LENGTH
from raxx.console.auth.roles import ROLE_NAMES
from raxx.console.models.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "console_user"

    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    #: None for a user who signs in only through the identity provider.
    password_hash: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: May sign in with a password while OpenID Connect is configured (audited, alerts).
    break_glass: Mapped[bool] = mapped_column(default=False, server_default="false")
    #: The identity provider's ``iss`` and ``sub`` of a user created by an OIDC sign-in.
    oidc_issuer: Mapped[str | None] = mapped_column(String(512))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))


class UserRole(Base):
    """A role held in one environment. No row for an environment means no access there."""

    __tablename__ = "console_user_role"
    __table_args__ = (
        UniqueConstraint("user_id", "environment"),
        CheckConstraint(f"role IN {ROLE_NAMES!r}", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("console_user.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Session(TimestampMixin, Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored here."""

    __tablename__ = "console_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("console_user.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    current_env: Mapped[str] = mapped_column(String(32))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    #: How and when the user last proved who they are: ``password`` (now) or ``oidc``
    #: (the ID token's ``auth_time``). Step-up sign-ins move ``auth_time`` forward.
    auth_method: Mapped[str] = mapped_column(String(16), default="password", server_default="password")
    auth_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The last ID token, sent back as ``id_token_hint`` to the provider's end-session endpoint.
    id_token: Mapped[str | None] = mapped_column(Text)


class LoginAttempt(Base):
    """Every login try, for throttling per user name and per address."""

    __tablename__ = "console_login_attempt"
    __table_args__ = (
        Index("ix_console_login_attempt_name_at", "username", "attempted_at"),
        Index("ix_console_login_attempt_ip_at", "client_ip", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool]
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Flash(Base):
    """A one-time notice for the page a session lands on after an action (``pages/notices.py``)."""

    __tablename__ = "console_flash"

    session_hash: Mapped[str] = mapped_column(
        String(64), ForeignKey("console_session.id_hash", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    environment: Mapped[str | None] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(32))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OidcFlow(Base):
    """One trip to the identity provider: what the callback must match, and where to go back to.

    The ``state`` itself is only in the browser's cookie and the provider's redirect; this
    row is found by its SHA-256. A used row stays until it expires, so a nonce seen again
    is told apart as a replay.
    """

    __tablename__ = "console_oidc_flow"
    __table_args__ = (
        Index("ix_console_oidc_flow_nonce", "nonce"),
        CheckConstraint("purpose IN ('login', 'stepup')", name="purpose"),
    )

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(16))
    #: The session a step-up belongs to (only that session may complete it).
    session_hash: Mapped[str | None] = mapped_column(String(64))
    next_path: Mapped[str | None] = mapped_column(String(512))
    #: A step-up's interrupted action and its form, to show its confirmation page again.
    resume: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
