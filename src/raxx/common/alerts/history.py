"""The alert outbox as the migrations created it: history, never to be edited.

Two trees carry the outbox (console ``c20261203_0006_alerts``, ledger
``l20261203_0004_alerts``); both ran these statements, the ones SQLAlchemy emitted then for
``raxx.common.alerts.tables`` (only the white space is laid out here for reading). A later
change to the outbox is a new revision in each tree with its own statements (or a
``create_alerts_outbox_v2`` here), and ``tables.py`` follows it;
``tests/common/test_migrations_unchanged.py`` holds ``tables.py`` equal to the newest version.
"""

from __future__ import annotations

from alembic import op

OUTBOX_V1 = (
    """CREATE TABLE alert (
    id UUID NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    kind VARCHAR(64) NOT NULL,
    environment VARCHAR(64),
    severity VARCHAR(16) NOT NULL,
    summary TEXT NOT NULL,
    details JSONB DEFAULT '{}'::jsonb NOT NULL,
    dedup_key VARCHAR(255) NOT NULL,
    source VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    occurrences INTEGER DEFAULT 1 NOT NULL,
    first_seen TIMESTAMP WITH TIME ZONE NOT NULL,
    last_seen TIMESTAMP WITH TIME ZONE NOT NULL,
    resolved_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_alert PRIMARY KEY (id),
    CONSTRAINT ck_alert_state CHECK (state IN ('triggered', 'resolved')),
    CONSTRAINT ck_alert_resolved_at CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CONSTRAINT uq_alert_seq UNIQUE (seq)
)""",
    "CREATE UNIQUE INDEX uq_alert_open_dedup_key ON alert (dedup_key) WHERE state = 'triggered'",
    "CREATE INDEX ix_alert_dedup_key ON alert (dedup_key)",
    """CREATE TABLE alert_delivery (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    alert_id UUID NOT NULL,
    sink VARCHAR(32) NOT NULL,
    action VARCHAR(16) NOT NULL,
    status VARCHAR(16) DEFAULT 'pending' NOT NULL,
    attempts INTEGER DEFAULT 0 NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    delivered_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_alert_delivery PRIMARY KEY (id),
    CONSTRAINT ck_alert_delivery_action CHECK (action IN ('trigger', 'resolve')),
    CONSTRAINT ck_alert_delivery_status CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT fk_alert_delivery_alert_id_alert FOREIGN KEY(alert_id) REFERENCES alert (id)
)""",
    "CREATE INDEX ix_alert_delivery_due ON alert_delivery (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX ix_alert_delivery_alert_id ON alert_delivery (alert_id)",
)


def create_alerts_outbox_v1() -> None:
    """The outbox's two tables and their indexes, as the first revision of each tree made them."""
    for statement in OUTBOX_V1:
        op.execute(statement)


def drop_alerts_outbox_v1() -> None:
    op.execute("DROP TABLE alert_delivery")
    op.execute("DROP TABLE alert")
