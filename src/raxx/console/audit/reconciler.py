"""Close attempts that never got an outcome (the console died between Raptor and the outcome write),
and settle outcomes the request could only write as ``unknown`` (Raptor did not answer in time).

An attempt still open after ``older_than`` gets an outcome written by the reconciler,
marked ``{"reconciled": true, ...}`` in its params:

* ``ok`` when Raptor says it handled the request id as this action (``raptor_found: true``);
* ``failed`` when Raptor says it never saw it (``raptor_found: false``);
* ``unknown`` when Raptor cannot tell: the action is not one Raptor performs (the action
  table's ``raptor_action``: a role change or a token is the console's alone), no environment
  or request id on the attempt, no lookup configured, Raptor unreachable or answering
  nonsense, or Raptor's record of that request id is of another action (an id reused by a
  caller: Raptor keeps the first action of an id, so it says nothing of this one).

An ``unknown`` outcome the request wrote itself (a timeout after sending) is asked about the
same way once it is older than ``older_than``; the answer is appended as its own event with
``{"resolves": <that outcome's event id>}`` (outcomes are never rewritten), so the trail says
what became of the order.

Every console process reconciles on a timer, but one pass runs at a time across them (an
advisory lock, :mod:`raxx.common.pglock`): a process that finds another's pass running skips
its own (that pass does the same work), so Raptor is asked once and an ``unknown`` gets one
resolution. Should two still meet (a pass outliving its lock's connection), an attempt gets at
most one outcome (a unique index) and the loser counts it as already closed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common import pglock
from raxx.common.actions import ACTIONS
from raxx.common.alerts import Alerts
from raxx.common.clock import Clock
from raxx.common.contracts.service import RequestLookupResult
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.audit.events import Attempt, AuditContext, Outcome
from raxx.console.audit.repository import EventRecord
from raxx.console.audit.service import AuditTrail, OutcomeAlreadyRecorded

__all__ = ["RaptorRequestLookup", "ReconcileReport", "RequestLookupResult", "reconcile"]

log = logging.getLogger("raxx.console.audit.reconciler")
#: The advisory lock one reconcile pass holds (:func:`reconcile`).
RECONCILE_LOCK = "console.audit.reconcile"


class RaptorRequestLookup(Protocol):
    """Asks one environment's Raptor about a request id (``GET /v1/requests/{request_id}``)."""

    async def lookup(self, environment: str, request_id: str) -> RequestLookupResult | None:
        """The answer, or None when Raptor cannot be asked (unreachable, identity mismatch)."""
        ...


def _counts() -> dict[str, int]:
    return {"ok": 0, "failed": 0, "unknown": 0}


@dataclass
class ReconcileReport:
    examined: int = 0
    closed: dict[str, int] = field(default_factory=_counts)
    already_closed: int = 0
    #: ``unknown`` outcomes the request wrote itself (a timeout after sending), asked about again.
    reexamined: int = 0
    resolved: dict[str, int] = field(default_factory=_counts)
    #: The attempts this pass closed or left ``unknown`` (their seq): each is reported only once.
    unknown_seqs: list[int] = field(default_factory=list)
    #: Another process's pass held the lock (for the whole wait): this one examined nothing.
    skipped: bool = False

    def summary(self) -> str:
        if self.skipped:
            return "another console process is reconciling right now; nothing examined (its pass does this work)"
        parts = ", ".join(f"{k}: {v}" for k, v in self.closed.items())
        line = f"{self.examined} open attempt(s) examined; closed as {parts}; {self.already_closed} closed by another"
        if self.reexamined:
            settled = ", ".join(f"{k}: {v}" for k, v in self.resolved.items())
            line += f"; {self.reexamined} unknown outcome(s) asked about again: now {settled}"
        return line


async def reconcile(
    engine: AsyncEngine,
    lookup: RaptorRequestLookup | None,
    *,
    older_than: timedelta,
    clock: Clock,
    lookback: timedelta | None = timedelta(days=30),
    limit: int = 1000,
    wait_s: float = 0.0,
) -> ReconcileReport:
    """Close every attempt recorded more than ``older_than`` ago that has no outcome, then settle the
    ``unknown`` outcomes requests wrote before then that nothing resolves yet.

    ``lookback`` bounds how far back to look (None: the whole chain). One pass at a time across
    processes: while another holds the lock for ``wait_s`` seconds, the report says ``skipped``.
    Raises ``AuditUnavailable`` if outcomes cannot be written.
    """
    async with pglock.held(engine, RECONCILE_LOCK, wait_s=wait_s) as mine:
        if not mine:
            return ReconcileReport(skipped=True)
        return await _reconcile_pass(engine, lookup, older_than=older_than, clock=clock, lookback=lookback, limit=limit)


async def _reconcile_pass(
    engine: AsyncEngine,
    lookup: RaptorRequestLookup | None,
    *,
    older_than: timedelta,
    clock: Clock,
    lookback: timedelta | None,
    limit: int,
) -> ReconcileReport:
    now = clock.now()
    async with engine.connect() as conn:
        attempts = await repository.open_attempts(
            conn, recorded_before=now - older_than, recorded_after=now - lookback if lookback else None, limit=limit
        )
    trail = AuditTrail(engine, clock=clock)
    report = ReconcileReport()
    for record in attempts:
        report.examined += 1
        answer = await _ask(lookup, record) if _raptor_action(record) else None
        outcome, params = _verdict(record, answer, asked=lookup is not None)
        params["open_for_seconds"] = int((now - record.recorded_at).total_seconds())
        try:
            await trail.outcome(_attempt_of(record), outcome, params=params)
        except OutcomeAlreadyRecorded:
            report.already_closed += 1
            continue
        report.closed[outcome] += 1
        if outcome == "unknown":
            report.unknown_seqs.append(record.seq)
        log_event(log, "audit.reconcile.closed", attempt_seq=record.seq, action=record.action, outcome=outcome)
    async with engine.connect() as conn:
        unknowns = await repository.unresolved_unknowns(
            conn, recorded_before=now - older_than, recorded_after=now - lookback if lookback else None, limit=limit
        )
    for attempt, unknown in unknowns:
        await _settle_unknown(trail, lookup, attempt, unknown, report)
    return report


async def _settle_unknown(
    trail: AuditTrail,
    lookup: RaptorRequestLookup | None,
    attempt: EventRecord,
    unknown: EventRecord,
    report: ReconcileReport,
) -> None:
    """An outcome the request wrote as ``unknown`` (Raptor did not answer in time) is never
    rewritten: the answer Raptor gives now is appended as its own event naming it (``resolves``),
    the way a late outcome is kept. Still unknown, that is recorded once too (and alerted)."""
    report.reexamined += 1
    answer = await _ask(lookup, attempt) if _raptor_action(attempt) else None
    outcome, params = _verdict(attempt, answer, asked=lookup is not None)
    params[repository.RESOLVES] = str(unknown.event_id)
    params["attempt"] = str(attempt.event_id)
    context = _attempt_of(attempt).context
    await trail.record(context, attempt.action, outcome=outcome, target=attempt.target, params=params)
    report.resolved[outcome] += 1
    if outcome == "unknown":
        report.unknown_seqs.append(attempt.seq)
    log_event(log, "audit.reconcile.resolved", attempt_seq=attempt.seq, action=attempt.action, outcome=outcome)


async def _ask(lookup: RaptorRequestLookup | None, record: EventRecord) -> RequestLookupResult | None:
    if lookup is None or not record.environment or not record.request_id:
        return None
    try:
        answer = await lookup.lookup(record.environment, record.request_id)
    except Exception as exc:  # an unreachable Raptor means "unknown", never a crashed reconciler
        log_event(
            log,
            "audit.reconcile.lookup_failed",
            level=logging.WARNING,
            attempt_seq=record.seq,
            environment=record.environment,
            error=type(exc).__name__,
        )
        return None
    if answer is not None and answer.request_id != record.request_id:
        return None
    return answer


def _raptor_action(record: EventRecord) -> str | None:
    """What Raptor calls the mutation this attempt asked of it; None for the console's own."""
    action = ACTIONS.get(record.action)
    return action.raptor_action if action is not None else None


def _verdict(record: EventRecord, answer: RequestLookupResult | None, *, asked: bool) -> tuple[Outcome, dict[str, Any]]:
    params: dict[str, Any] = {"reconciled": True}
    if answer is None:
        params["raptor_found"] = None
        params["reason"] = _why_not_asked(record, asked=asked)
        return "unknown", params
    params.update(
        raptor_found=answer.found,
        raptor_action=answer.action,
        raptor_target=answer.target,
        raptor_at=answer.at.isoformat() if answer.at else None,
    )
    if answer.found and answer.action != _raptor_action(record):
        params["reason"] = (
            f"Raptor's record of request id {record.request_id} is another action ({answer.action}), "
            f"not {_raptor_action(record)}: the id was used twice, and Raptor keeps the first"
        )
        return "unknown", params
    return ("ok" if answer.found else "failed"), params


def _why_not_asked(record: EventRecord, *, asked: bool) -> str:
    if _raptor_action(record) is None:
        return f"{record.action} is the console's own action: Raptor never hears of it"
    if not record.environment:
        return "the attempt names no environment"
    if not record.request_id:
        return "the attempt has no request id"
    if not asked:
        return "no Raptor lookup configured"
    return "Raptor could not be asked"


def _attempt_of(record: EventRecord) -> Attempt:
    context = AuditContext(
        actor_id=record.actor_id,
        actor_name=record.actor_name,
        session_hash=record.session_hash,
        environment=record.environment,
        request_id=record.request_id,
        client_ip=record.client_ip,
        user_agent=record.user_agent,
        session_env=record.session_env,
        origin=record.origin,
    )
    return Attempt(
        event_id=record.event_id,
        seq=record.seq,
        hash=record.hash,
        recorded_at=record.recorded_at,
        occurred_at=record.occurred_at,
        context=context,
        action=record.action,
        target=record.target,
    )


#: Attempts closed as "unknown": someone must find out what happened. Nothing in Raxx resolves it, so
#: each pass's batch is its own alert (the key names its first attempt, closed only once): one key for
#: every batch would leave the first alert open for good and every later batch deduplicated, unsent.
UNKNOWN_ALERT_KEY = "audit.attempts_unresolved:unknown"
#: The reconciler itself failing: attempts stay without outcome (resolved by its next good pass).
FAILED_ALERT_KEY = "audit.attempts_unresolved:reconciler"


async def run_periodic_reconcile(
    engine: AsyncEngine,
    lookup: RaptorRequestLookup | None,
    *,
    older_than: timedelta,
    interval: timedelta,
    clock: Clock,
    alerts: Alerts | None = None,
) -> None:
    """Reconcile every ``interval`` (a console lifespan task; cancel it to stop). Failures are logged
    and alerted, as are attempts whose outcome stays unknown."""
    while True:
        await asyncio.sleep(interval.total_seconds())
        await reconcile_and_alert(engine, lookup, older_than=older_than, clock=clock, alerts=alerts)


async def reconcile_and_alert(
    engine: AsyncEngine,
    lookup: RaptorRequestLookup | None,
    *,
    older_than: timedelta,
    clock: Clock,
    alerts: Alerts | None,
) -> ReconcileReport | None:
    """One periodic pass: reconcile, log, and raise or resolve ``audit.attempts_unresolved``."""
    window = f"{int(older_than.total_seconds() // 60)} min"
    try:
        report = await reconcile(engine, lookup, older_than=older_than, clock=clock)
    except Exception as exc:  # the loop must outlive a database restart
        log_event(log, "audit.reconcile.failed", level=logging.ERROR, error=type(exc).__name__)
        if alerts is not None:
            await alerts.raise_alert(
                "audit.attempts_unresolved",
                environment=None,
                summary=f"the audit reconciler cannot close attempts older than {window}: {type(exc).__name__}",
                details={"error": repr(exc)},
                dedup_key=FAILED_ALERT_KEY,
            )
        return None
    if report.examined:
        log_event(log, "audit.reconcile.ok", summary=report.summary())
    if alerts is not None:
        await alerts.resolve_alert(FAILED_ALERT_KEY)
        if report.unknown_seqs:
            await alerts.raise_alert(
                "audit.attempts_unresolved",
                environment=None,
                summary=f"{report.closed['unknown']} audit attempt(s) without an outcome after {window}; "
                "Raptor could not say what became of them",
                details={
                    "unknown": report.closed["unknown"],
                    "examined": report.examined,
                    "attempt_seqs": report.unknown_seqs[:50],
                },
                dedup_key=f"{UNKNOWN_ALERT_KEY}:seq-{report.unknown_seqs[0]}",
            )
    return report
