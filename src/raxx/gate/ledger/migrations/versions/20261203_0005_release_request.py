"""Release actions asked for from the console, carried out by the gate.

The console may not import the gate (separate deployables; import-linter), and must not
hold the gate's platform credentials. It writes what a release owner asked for (approve,
promote, roll back) into ``release_request``; the gate's request runner (beside the
monitor) claims it and carries it out through the same functions as ``raxx gate approve``,
``promote`` and ``rollback``, then writes the outcome (done, refused with the gate's code
and words, or failed) back on the row, which the console shows and audits.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "l20261203_0005"
down_revision = "l20261203_0004_alerts"


def upgrade() -> None:
    op.create_table(
        "release_request",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("app", sa.String(80), nullable=False),
        sa.Column("environment", sa.String(80), nullable=False),
        sa.Column("release_id", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("via", sa.String(40), nullable=False),
        sa.Column("via_request_id", sa.String(128), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(80), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.CheckConstraint("action IN ('approve', 'promote', 'rollback')", name=op.f("ck_release_request_action")),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'refused', 'failed')", name=op.f("ck_release_request_status")
        ),
        sa.CheckConstraint("action = 'rollback' OR release_id IS NOT NULL", name=op.f("ck_release_request_release")),
    )
    op.create_index(
        "ix_release_request_pending",
        "release_request",
        ["requested_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_release_request_requested_at", "release_request", ["requested_at"])


def downgrade() -> None:
    op.drop_table("release_request")
