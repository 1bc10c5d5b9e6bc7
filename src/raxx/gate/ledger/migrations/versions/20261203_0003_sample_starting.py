"""Health samples taken while a deployment is starting are recorded as such, not as failures.

``starting`` is true for a sample that was not healthy while the deployment was within
its start grace (``raxx.gate.monitor``); such a sample neither proves nor disproves
health, so the soak, the retirement check and the board leave it out of their counts.

Revision ID: l20261203_0003
Revises: l20261203_0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "l20261203_0003"
down_revision: str | Sequence[str] | None = "l20261203_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("health_sample", sa.Column("starting", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.create_check_constraint(op.f("ck_health_sample_starting_not_ok"), "health_sample", "NOT (ok AND starting)")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_health_sample_starting_not_ok"), "health_sample", type_="check")
    op.drop_column("health_sample", "starting")
