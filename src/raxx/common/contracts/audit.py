"""The console's audit trail as the release gate reads it (evidence for the retirement checklist)."""

from __future__ import annotations

from raxx.common.contracts.views import View

#: One row per finished action (the outcome of an attempt, or a single event), with only
#: what the gate counts; the hash chain, actors and parameters stay with the console.
AUDIT_EVIDENCE_VIEW = View(
    "audit_evidence_v1",
    "console -> gate",
    "action text, environment text, outcome text, occurred_at timestamp with time zone",
)
