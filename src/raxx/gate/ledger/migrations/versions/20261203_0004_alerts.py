"""The alert outbox (``raxx.common.alerts.tables``): alerts raised by the ledger's processes and
every delivery attempt to a sink.

Revision ID: l20261203_0004_alerts
Revises: l20261203_0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

from raxx.common.alerts.tables import create_tables, drop_tables

revision: str = "l20261203_0004_alerts"
down_revision: str | Sequence[str] | None = "l20261203_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_tables(op.get_bind())


def downgrade() -> None:
    drop_tables(op.get_bind())
