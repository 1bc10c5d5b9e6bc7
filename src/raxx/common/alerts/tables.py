"""The alert outbox: two tables that the console database and the gate ledger both carry.

An alert is written in the database of the process that raises it (the console's for
console alerts, the ledger for the gate's and the monitor's), in its own short
transaction, together with one delivery row per configured sink; a dispatcher sends the
deliveries later. So raising never waits for a sink, and every alert and every delivery
attempt is a row. These definitions are how the code reads and writes the outbox; the
migrations of both trees created the tables with the frozen DDL of ``history.py``
(version 1). A change here is a new revision in both trees.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from raxx.common.orm import new_metadata

STATES = ("triggered", "resolved")
ACTIONS = ("trigger", "resolve")
DELIVERY_STATUSES = ("pending", "delivered", "failed")

metadata = new_metadata()

alert = sa.Table(
    "alert",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(64), nullable=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("dedup_key", sa.String(255), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("occurrences", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('triggered', 'resolved')", name="state"),
    sa.CheckConstraint("(state = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_at"),
    # Deduplication: one open alert per key, whichever process raises it.
    sa.Index("uq_alert_open_dedup_key", "dedup_key", unique=True, postgresql_where=sa.text("state = 'triggered'")),
    sa.Index("ix_alert_dedup_key", "dedup_key"),
)

alert_delivery = sa.Table(
    "alert_delivery",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
    sa.Column("alert_id", sa.Uuid, sa.ForeignKey("alert.id"), nullable=False),
    sa.Column("sink", sa.String(32), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'pending'")),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("action IN ('trigger', 'resolve')", name="action"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    sa.Index("ix_alert_delivery_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    sa.Index("ix_alert_delivery_alert_id", "alert_id"),
)
