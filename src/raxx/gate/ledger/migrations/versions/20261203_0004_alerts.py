"""The alert outbox of the ledger: what the gate and the monitor raise, and every delivery attempt.

Version 1 of the outbox (``raxx.common.alerts.history``), as the console's ``c20261203_0006_alerts``.
"""

from raxx.common.alerts.history import create_alerts_outbox_v1, drop_alerts_outbox_v1

revision = "l20261203_0004_alerts"
down_revision = "l20261203_0003"

upgrade = create_alerts_outbox_v1
downgrade = drop_alerts_outbox_v1
