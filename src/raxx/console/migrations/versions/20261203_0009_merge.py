"""Merge the alerts branch and the session-environment/notices/token-scope branch of the console tree."""

revision = "c20261203_0009_merge"
down_revision = ("c20261203_0006_alerts", "c20261203_0008_token_scope")


def upgrade() -> None:
    """Nothing to do: both parents' changes are independent."""


downgrade = upgrade
