"""Alerts that reach a person: an outbox in PostgreSQL, and sinks (webhook, Slack, PagerDuty).

``Alerts.raise_alert`` / ``Alerts.resolve_alert`` record (``outbox.py``); an
``AlertDispatcher`` sends (``dispatch.py``); ``kinds.KINDS`` is every alert there is.
Kept light at import: the CLI imports this only inside commands.
"""

from raxx.common.alerts.dispatch import AlertDispatcher
from raxx.common.alerts.kinds import KINDS, AlertKind
from raxx.common.alerts.outbox import AlertRow, Alerts, Raised, recent_alerts
from raxx.common.alerts.sinks import AlertSettings
from raxx.common.alerts.words import environment_words

__all__ = [
    "KINDS",
    "AlertDispatcher",
    "AlertKind",
    "AlertRow",
    "AlertSettings",
    "Alerts",
    "Raised",
    "environment_words",
    "recent_alerts",
]
