"""The alert outbox of the console database: what the console's processes raise, and every
delivery attempt to a sink.

The ledger has the same two tables, from ``l20261203_0004_alerts``: both revisions run
version 1 of the outbox, frozen in ``raxx.common.alerts.history``.
"""

from raxx.common.alerts.history import create_alerts_outbox_v1, drop_alerts_outbox_v1

revision = "c20261203_0006_alerts"
down_revision = "c20261126_0005_merge"

upgrade = create_alerts_outbox_v1
downgrade = drop_alerts_outbox_v1
