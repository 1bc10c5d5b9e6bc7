"""Merge the audit trail and console operations branches of the console tree."""

revision = "c20261126_0005_merge"
down_revision = ("c20261126_0003_audit", "c20261126_0004")


def upgrade() -> None:
    """Nothing to do: both parents' tables are independent."""


downgrade = upgrade
