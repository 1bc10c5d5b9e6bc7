"""Ledger tables (their own database and Alembic tree, ``ledger``).

Rows are facts with their time: a release deployed, an approval given, a health sample
seen. Nothing is updated in place except a release's status while its deploy runs, a
freeze being lifted and an incident being closed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from raxx.common.alerts import tables as alert_tables
from raxx.common.orm import IdMixin, new_metadata
from raxx.gate.ledger import widths

TRIGGERS = ("push", "dispatch", "tag", "rollback", "break_glass")
RELEASE_STATUSES = ("deploying", "succeeded", "failed", "rolled_back")
#: Statuses after which the release really ran (the platform switched to it).
RAN_STATUSES = ("succeeded", "rolled_back")
SEVERITIES = ("critical", "major", "minor")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = new_metadata()


class Release(IdMixin, Base):
    """One deploy of a release to one app and environment (a rollback is a deploy too)."""

    __tablename__ = "release"
    __table_args__ = (
        CheckConstraint(_in("trigger", TRIGGERS), name="trigger"),
        CheckConstraint(_in("status", RELEASE_STATUSES), name="status"),
        Index("ix_release_app_env_deployed", "app", "environment", "deployed_at"),
        Index("ix_release_app_env_release", "app", "environment", "release_id"),
    )

    #: Insertion order: breaks ties between deploys recorded in the same instant.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    app: Mapped[str] = mapped_column(String(widths.APP))
    environment: Mapped[str] = mapped_column(String(widths.ENVIRONMENT))
    release_id: Mapped[str] = mapped_column(String(widths.RELEASE_ID))
    commit: Mapped[str] = mapped_column(String(widths.COMMIT))
    version_tag: Mapped[str | None] = mapped_column(String(widths.TAG))
    artifact_digest: Mapped[str] = mapped_column(String(widths.ARTIFACT))
    deployed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deployed_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ran_migrations: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_release: Mapped[str | None] = mapped_column(String(widths.RELEASE_ID))
    rollback_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("release.id"))
    break_glass_reason: Mapped[str | None] = mapped_column(Text)
    features: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    detail: Mapped[str | None] = mapped_column(Text)


class Approval(IdMixin, Base):
    """An approval binds to exactly what was approved, stint included.

    What makes one void is decided in one place: ``raxx.gate.checks.conditions.approval_void_reason``.
    """

    __tablename__ = "approval"
    __table_args__ = (Index("ix_approval_target", "app", "environment", "release_id"),)

    app: Mapped[str] = mapped_column(String(widths.APP))
    environment: Mapped[str] = mapped_column(String(widths.ENVIRONMENT))
    release_id: Mapped[str] = mapped_column(String(widths.RELEASE_ID))
    commit: Mapped[str] = mapped_column(String(widths.COMMIT))
    artifact_digest: Mapped[str] = mapped_column(String(widths.ARTIFACT))
    #: The soak environment's deploy record since which the release had been current when it
    #: was approved (its stint). Null only for approvals recorded before stints were bound.
    stint_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("release.id"))
    approved_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)
    #: The gate's verdict rows when the approval was given: what the approver saw.
    gate_state: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class HealthSample(Base):
    """One poll of one deployment by the monitor. Compact: about a million rows a year each.

    A sample is ok, failed, or ``starting``: not healthy while the deployment was within its
    start grace (``raxx.gate.monitor``), counted neither as success nor as failure.
    """

    __tablename__ = "health_sample"
    __table_args__ = (
        Index("ix_health_sample_deployment_observed", "deployment", "observed_at"),
        CheckConstraint("NOT (ok AND starting)", name="starting_not_ok"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(80))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    release_seen: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    starting: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Incident(IdMixin, Base):
    __tablename__ = "incident"
    __table_args__ = (
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
        Index("ix_incident_app_opened", "app", "opened_at"),
    )

    app: Mapped[str] = mapped_column(String(widths.APP))
    component: Mapped[str] = mapped_column(String(widths.COMPONENT))
    severity: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(String(widths.ACTOR))


class Freeze(IdMixin, Base):
    """No deploy to ``environment`` (of ``app``, or of every app when null) in [starts_at, ends_at)."""

    __tablename__ = "freeze"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_freeze_environment_ends", "environment", "ends_at"),
    )

    environment: Mapped[str] = mapped_column(String(widths.ENVIRONMENT))
    app: Mapped[str | None] = mapped_column(String(widths.APP))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by: Mapped[str | None] = mapped_column(String(widths.ACTOR))


class DeployLock(Base):
    """Who holds the deploy lock of an app and environment.

    The lock itself is a PostgreSQL advisory lock held by the deploying session (it
    vanishes with a crashed process); this row says who holds it, for people to read.
    """

    __tablename__ = "deploy_lock"

    app: Mapped[str] = mapped_column(String(widths.APP), primary_key=True)
    environment: Mapped[str] = mapped_column(String(widths.ENVIRONMENT), primary_key=True)
    holder: Mapped[str] = mapped_column(String(widths.ACTOR))
    purpose: Mapped[str] = mapped_column(Text)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lock_key: Mapped[int] = mapped_column(Integer)


class Attestation(IdMixin, Base):
    """A person's statement about a checklist item no probe can see."""

    __tablename__ = "attestation"
    __table_args__ = (Index("ix_attestation_subject_item", "subject", "item"),)

    subject: Mapped[str] = mapped_column(String(widths.SUBJECT))
    item: Mapped[str] = mapped_column(String(widths.ITEM))
    attested_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    attested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class RetirementDecision(IdMixin, Base):
    """Each retire-check run: its verdict and every item's evidence."""

    __tablename__ = "retirement_decision"
    __table_args__ = (Index("ix_retirement_decision_subject", "subject", "decided_at"),)

    subject: Mapped[str] = mapped_column(String(widths.SUBJECT))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str] = mapped_column(String(widths.ACTOR))
    passed: Mapped[bool] = mapped_column(Boolean)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class ReleaseBoardSnapshot(Base):
    """The latest releases board (one row), so the console renders it without the gate's rules."""

    __tablename__ = "release_board"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    generated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ReleaseRequest(Base):
    """A release action asked for outside the gate (the console), carried out by the gate's
    request runner (``raxx.gate.requests``) through the same functions as the CLI."""

    __tablename__ = "release_request"
    __table_args__ = (
        CheckConstraint("action IN ('approve', 'promote', 'rollback')", name="action"),
        CheckConstraint("status IN ('pending', 'running', 'done', 'refused', 'failed')", name="status"),
        CheckConstraint("action = 'rollback' OR release_id IS NOT NULL", name="release"),
        Index("ix_release_request_pending", "requested_at", postgresql_where=text("status = 'pending'")),
        Index("ix_release_request_requested_at", "requested_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    app: Mapped[str] = mapped_column(String(80))
    environment: Mapped[str] = mapped_column(String(80))
    #: approve and promote: the release; rollback: the release to go back to (None: the previous one).
    release_id: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    #: The approval's comment or the rollback's reason.
    note: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(40))
    via_request_id: Mapped[str | None] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


#: Every table of the ledger as the code declares it (these models and the alert outbox):
#: Alembic's target, and what tests/test_models_current.py holds a migrated database to.
SCHEMA: tuple[MetaData, ...] = (Base.metadata, alert_tables.metadata)
