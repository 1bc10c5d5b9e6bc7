"""Approvals name the staging stint they approved.

An approval is bound to the deploy record since which the release has been current on
its soak environment (its *stint*). A redeploy of the same release starts a new stint,
which needs a new approval. Approvals recorded before this revision name no stint and
count for nothing (approve again): which stint their approver saw cannot be proven.
"""

import sqlalchemy as sa
from alembic import op

revision = "l20261203_0002"
down_revision = "l20261126_0001"


def upgrade() -> None:
    op.add_column("approval", sa.Column("stint_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f("fk_approval_stint_id_release"), "approval", "release", ["stint_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_approval_stint_id_release"), "approval", type_="foreignkey")
    op.drop_column("approval", "stint_id")
