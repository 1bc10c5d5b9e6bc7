"""The alert outbox (``raxx.common.alerts.tables``): alerts raised by the console's processes and
every delivery attempt to a sink.

Revision ID: c20261203_0006_alerts
Revises: c20261126_0005_merge
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from raxx.common.alerts.tables import create_tables, drop_tables

revision: str = "c20261203_0006_alerts"
down_revision: str | Sequence[str] | None = "c20261126_0005_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_tables(op.get_bind())


def downgrade() -> None:
    drop_tables(op.get_bind())
