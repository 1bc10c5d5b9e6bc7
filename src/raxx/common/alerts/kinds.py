"""The alerts Raxx raises: what each one means, when it fires and resolves, what to do.

This table is the contract between the code that raises an alert and the person it
wakes: ``docs/operations.md`` ("## Alerts") lists every kind here, and a test fails
when the two drift. A new kind is a row here, a row there and a call to ``raise_alert``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Severity = Literal["critical", "error", "warning", "info"]


@dataclass(frozen=True)
class AlertKind:
    name: str
    severity: Severity
    #: Who raises it (the process whose outbox records it).
    raised_by: str
    fires: str
    resolves: str
    action: str


KINDS: tuple[AlertKind, ...] = (
    AlertKind(
        "soak.failed",
        "critical",
        "monitor",
        "the release soaking on a deployment (toward prod) is healthy in fewer samples than the policy's "
        "`min_success_rate` (the soak's `success_rate` check fails)",
        "when that check passes again (or a release that passes it replaces the one soaking)",
        "open /releases; find why the deployment failed its health samples; roll back (`raxx gate rollback`) "
        "rather than promote",
    ),
    AlertKind(
        "health.failing",
        "critical",
        "monitor",
        "a deployment failed its last `GATE_ALERT_HEALTH_FAILURES` (3) health samples in a row (samples while it "
        "starts count neither way)",
        "at the first healthy sample",
        "check the deployment's /readyz reasons and its logs; roll back if a deploy caused it",
    ),
    AlertKind(
        "release.rolled_back",
        "critical",
        "gate",
        "the gate rolled a deployment back automatically after a failed deploy or smoke check",
        "never by itself: it records an event (resolve it in PagerDuty once handled)",
        "read the failed release's reason (`raxx gate board`, /releases); fix forward before deploying again",
    ),
    AlertKind(
        "identity.mismatch",
        "critical",
        "console, monitor",
        "a backend's identity names another environment than the one it is configured as",
        "when the backend names its own environment again",
        "the console refuses to send it credentials; fix the deployment's RAPTOR_ENVIRONMENT or the registry URL",
    ),
    AlertKind(
        "audit.chain_broken",
        "critical",
        "console (raxx audit verify)",
        "`raxx audit verify` finds an edited, missing or truncated event or a bad checkpoint",
        "when a later verification finds the chain intact",
        "do not act on the trail; keep the database as it is and follow docs/ops-runbook.md",
    ),
    AlertKind(
        "audit.attempts_unresolved",
        "error",
        "console (reconciler)",
        "the reconciler closed audit attempts as 'unknown' after the reconcile window (Raptor could not say "
        "what became of them), or the reconciler itself fails",
        "a failing reconciler: at its next good pass; 'unknown' attempts: never by itself: each pass's batch is "
        "an event (resolve it in PagerDuty once checked)",
        "check Raptor's /v1/requests/{id} for those requests and `raxx audit reconcile`",
    ),
    AlertKind(
        "trading.halted",
        "critical",
        "console",
        "trading was halted in a protected environment (prod): through the console at once, any other way "
        "(an admin token on Raptor) within 30 s",
        "when trading is resumed there: through the console at once, any other way within 30 s",
        "confirm with whoever halted it (the alert and the audit trail name them) before resuming",
    ),
    AlertKind(
        "monitor.unrecorded",
        "critical",
        "monitor",
        "the monitor could not record its samples in the ledger for consecutive rounds",
        "at the first round recorded again, also by a restarted monitor that finds the silence",
        "check the ledger database (GATE_DATABASE_URL) and its connection limit",
    ),
    AlertKind(
        "monitor.silent",
        "error",
        "console",
        "the release board the monitor rewrites every round is older than 300 s: the monitor is stopped, stuck or "
        "cannot write, and its health samples, soak verdicts and alerts have stopped with it",
        "when the monitor writes the board again",
        "check the monitor process (`raxx monitor`: its dyno, or `raxx up`'s log) and the ledger database",
    ),
    AlertKind(
        "auth.break_glass",
        "critical",
        "console",
        "someone signed in with the break-glass (local password) account while single sign-on is configured",
        "never by itself: an event to review",
        "confirm who it was and why; rotate the break-glass password afterwards",
    ),
)


def kind(name: str) -> AlertKind:
    """The kind named ``name``; an unknown name is a bug in the caller (``KeyError``)."""
    return _by_name()[name]


@lru_cache(maxsize=1)
def _by_name() -> dict[str, AlertKind]:
    return {k.name: k for k in KINDS}


def table_rows() -> list[str]:
    """The alerts table of ``docs/operations.md`` as the code renders it (a test compares them)."""
    rows = [
        "| alert | severity | raised by | fires when | resolves | what to do |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows += [f"| `{k.name}` | {k.severity} | {k.raised_by} | {k.fires} | {k.resolves} | {k.action} |" for k in KINDS]
    return rows
