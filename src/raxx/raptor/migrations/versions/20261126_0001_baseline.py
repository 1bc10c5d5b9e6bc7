"""Baseline of the Raptor database: the root every later revision builds on."""

revision = "r20261126_0001"
down_revision = None


def upgrade() -> None:
    """Nothing to create yet: domain tables arrive in their own revisions."""


downgrade = upgrade
