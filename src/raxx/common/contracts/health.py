"""A deployment's health history as the console draws it from the release gate's ledger."""

from __future__ import annotations

from raxx.common.contracts.views import View

_AT = "timestamp with time zone"
_NAME = "character varying"

#: The monitor's probes: one row per probe of a deployment (``starting``: soon after a planned start).
DEPLOYMENT_HEALTH_VIEW = View(
    "deployment_health_v1",
    owner="ledger",
    reader="console",
    columns=(
        ("deployment", _NAME),
        ("observed_at", _AT),
        ("ok", "boolean"),
        ("starting", "boolean"),
        ("latency_ms", "double precision"),
    ),
)
#: Every deploy the ledger recorded, as markers on the history.
DEPLOY_HISTORY_VIEW = View(
    "deploy_history_v1",
    owner="ledger",
    reader="console",
    columns=(("app", _NAME), ("environment", _NAME), ("release_id", _NAME), ("deployed_at", _AT), ("status", _NAME)),
)
#: Every incident opened, as markers on the history.
INCIDENT_HISTORY_VIEW = View(
    "incident_history_v1",
    owner="ledger",
    reader="console",
    columns=(("app", _NAME), ("opened_at", _AT), ("severity", _NAME), ("title", "text")),
)
