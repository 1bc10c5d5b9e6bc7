"""Merge the alerts branch and the session-environment/notices/token-scope branch of the console tree.

Revision ID: c20261203_0009_merge
Revises: c20261203_0006_alerts, c20261203_0008_token_scope
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "c20261203_0009_merge"
down_revision: str | Sequence[str] | None = ("c20261203_0006_alerts", "c20261203_0008_token_scope")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: both parents' changes are independent."""


def downgrade() -> None:
    pass
