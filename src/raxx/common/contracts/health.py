"""A deployment's health history as the console draws it from the release gate's ledger.

Three views, read together: the monitor's probes (``starting``: soon after a planned start),
every deploy recorded and every incident opened (markers on the history).
"""

from __future__ import annotations

from raxx.common.contracts.views import View

_AT, _NAME = "timestamp with time zone", "character varying"

DEPLOYMENT_HEALTH_VIEW = View(
    "deployment_health_v1",
    "ledger -> console",
    f"deployment {_NAME}, observed_at {_AT}, ok boolean, starting boolean, latency_ms double precision",
)
DEPLOY_HISTORY_VIEW = View(
    "deploy_history_v1",
    "ledger -> console",
    f"app {_NAME}, environment {_NAME}, release_id {_NAME}, deployed_at {_AT}, status {_NAME}",
)
INCIDENT_HISTORY_VIEW = View(
    "incident_history_v1", "ledger -> console", f"app {_NAME}, opened_at {_AT}, severity {_NAME}, title text"
)
