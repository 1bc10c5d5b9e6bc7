"""Health samples taken while a deployment is starting are recorded as such, not as failures.

``starting`` is true for a sample that was not healthy while the deployment was within
its start grace (``raxx.gate.monitor``); such a sample neither proves nor disproves
health, so the soak, the retirement check and the board leave it out of their counts.
"""

import sqlalchemy as sa
from alembic import op

revision = "l20261203_0003"
down_revision = "l20261203_0002"


def upgrade() -> None:
    op.add_column("health_sample", sa.Column("starting", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.create_check_constraint(op.f("ck_health_sample_starting_not_ok"), "health_sample", "NOT (ok AND starting)")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_health_sample_starting_not_ok"), "health_sample", type_="check")
    op.drop_column("health_sample", "starting")
