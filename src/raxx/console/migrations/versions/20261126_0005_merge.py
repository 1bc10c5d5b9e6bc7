"""Merge the audit trail and console operations branches of the console tree.

Revision ID: c20261126_0005_merge
Revises: c20261126_0003_audit, c20261126_0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "c20261126_0005_merge"
down_revision: str | Sequence[str] | None = ("c20261126_0003_audit", "c20261126_0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: both parents' tables are independent."""


def downgrade() -> None:
    pass
