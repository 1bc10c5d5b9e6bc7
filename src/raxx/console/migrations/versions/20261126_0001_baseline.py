"""Baseline of the console database: the root every later revision builds on.

Revision ID: c20261126_0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

revision: str = "c20261126_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to create yet: domain tables arrive in their own revisions."""


def downgrade() -> None:
    pass
