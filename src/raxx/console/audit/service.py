"""The audit trail as console routes use it: attempt, then outcome; fail closed.

Contract (what every console route relies on):

* :meth:`AuditTrail.attempt` commits the attempt on its **own** connection, in its
  own transaction, before it returns: whatever the request's transaction does later
  (commit or roll back), the attempt stays. This is the one place in the console
  where a write commits outside the request's transaction (STYLE habit 3).
* If the attempt cannot be written (database unreachable, insert refused, timeout),
  :meth:`AuditTrail.attempt` raises :class:`AuditUnavailable` (503) and the caller
  must not perform the action. :meth:`AuditTrail.action` enforces that by
  construction: the body of the ``async with`` never runs.
* :meth:`AuditTrail.outcome` links the outcome to its attempt (``attempt_id``). An
  attempt gets at most one outcome (a unique index); an attempt left without one
  (the process died) is closed later by :func:`raxx.console.audit.reconciler.reconcile`.
* Single events (login, logout, failed login, environment switch, permission
  denial, CSRF failure, identity mismatch) use :meth:`AuditTrail.record`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common import tracing
from raxx.common.clock import Clock, SystemClock
from raxx.common.errors import Conflict, Unavailable
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.audit.batching import AppendBatcher
from raxx.console.audit.canonical import dump_body
from raxx.console.audit.classify import classify_exception
from raxx.console.audit.events import (
    ActionScope,
    Attempt,
    AuditContext,
    Outcome,
    Recorded,
    checked_outcome,
    event_body,
)
from raxx.console.metrics import audit_appended

log = logging.getLogger("raxx.console.audit")

ONE_OUTCOME_INDEX = "uq_audit_event_attempt_id"
#: A request that only asked for a confirmation is recorded as its own action, ``<action>.prompt``
#: (``audit/routes.py``): a prompt is not the action, whatever its outcome.
PROMPT_SUFFIX = ".prompt"


class AuditUnavailable(Unavailable):
    """The audit trail could not record an attempt, so the action was not performed."""

    code = "audit_unavailable"


class OutcomeAlreadyRecorded(Conflict):
    """The attempt already has an outcome (another writer, e.g. the reconciler, closed it)."""

    code = "audit_outcome_exists"


class AuditTrail:
    """Writes audit events through ``audit_append`` on connections of its own engine."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock | None = None, timeout: float = 10.0) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self._batcher = AppendBatcher(engine)

    async def attempt(
        self, ctx: AuditContext, action: str, *, target: str | None = None, params: Mapping[str, Any] | None = None
    ) -> Attempt:
        """Commit an attempt; raise :class:`AuditUnavailable` if it cannot be written."""
        occurred_at = self.clock.now()
        written = await self._write(ctx, action, occurred_at, target=target, params=params)
        return Attempt(
            event_id=written.event_id,
            seq=written.seq,
            hash=written.hash,
            recorded_at=written.recorded_at,
            occurred_at=occurred_at,
            context=ctx,
            action=action,
            target=target,
        )

    async def outcome(
        self,
        attempt: Attempt,
        outcome: Outcome,
        *,
        http_status: int | None = None,
        error: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Recorded:
        """Commit the outcome of ``attempt``.

        Raises :class:`OutcomeAlreadyRecorded` if the attempt already has one, and
        :class:`AuditUnavailable` if it cannot be written.
        """
        return await self._write_outcome(attempt, outcome, http_status=http_status, error=error, params=params)

    async def record(
        self,
        ctx: AuditContext,
        action: str,
        *,
        outcome: Outcome,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> Recorded:
        """Commit a single event (phase ``outcome``, no attempt); raise :class:`AuditUnavailable` on failure."""
        return await self._write(
            ctx,
            action,
            self.clock.now(),
            target=target,
            params=params,
            outcome=checked_outcome(outcome),
            http_status=http_status,
            error=error,
        )

    @asynccontextmanager
    async def action(
        self, ctx: AuditContext, action: str, *, target: str | None = None, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[ActionScope]:
        """Attempt, run the body (the call to Raptor), then record its outcome.

        If the attempt cannot be written, :class:`AuditUnavailable` propagates and
        the body never runs. The outcome write is shielded from cancellation; if it
        fails the action's own result still stands (``scope.outcome_recorded`` is
        False, an error is logged, and the reconciler closes the attempt later).
        """
        scope = ActionScope(attempt=await self.attempt(ctx, action, target=target, params=params))
        try:
            yield scope
        except BaseException as exc:
            verdict = classify_exception(exc)
            scope.set(
                scope.outcome if scope.outcome not in (None, "ok") else checked_outcome(verdict.outcome),
                http_status=scope.http_status or verdict.http_status,
                error=verdict.error,
            )
            await self._close(scope)
            raise
        else:
            await self._close(scope)

    async def _close(self, scope: ActionScope) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._write_outcome(
                    scope.attempt,
                    scope.outcome or "ok",
                    http_status=scope.http_status,
                    error=scope.error,
                    params=scope.params,
                    actor=scope.actor,
                )
                scope.outcome_recorded = True
            except OutcomeAlreadyRecorded:
                await self._late_outcome(scope)
            except AuditUnavailable as exc:
                log_event(
                    log,
                    "audit.outcome.failed",
                    level=logging.ERROR,
                    attempt_seq=scope.attempt.seq,
                    action=scope.attempt.action,
                    outcome=scope.outcome or "ok",
                    detail=str(exc.detail),
                )

    async def _late_outcome(self, scope: ActionScope) -> None:
        """The reconciler closed this attempt first; keep what really happened as its own event."""
        attempt = scope.attempt
        params = {**scope.params, "late_outcome_of": str(attempt.event_id)}
        try:
            await self.record(
                attempt.context,
                attempt.action,
                outcome=scope.outcome or "ok",
                target=attempt.target,
                params=params,
                http_status=scope.http_status,
                error=scope.error,
            )
            scope.outcome_recorded = True
        except AuditUnavailable as exc:
            log_event(
                log,
                "audit.outcome.failed",
                level=logging.ERROR,
                attempt_seq=attempt.seq,
                action=attempt.action,
                detail=str(exc.detail),
            )

    async def _write_outcome(
        self,
        attempt: Attempt,
        outcome: Outcome,
        *,
        http_status: int | None,
        error: str | None,
        params: Mapping[str, Any] | None,
        actor: tuple[uuid.UUID | str | None, str | None] | None = None,
    ) -> Recorded:
        context = attempt.context
        if actor is not None:
            context = replace(context, actor_id=actor[0], actor_name=actor[1])
        return await self._write(
            context,
            attempt.action,
            self.clock.now(),
            target=attempt.target,
            params=params,
            outcome=checked_outcome(outcome),
            attempt_id=attempt.event_id,
            http_status=http_status,
            error=error,
        )

    async def _write(
        self,
        ctx: AuditContext,
        action: str,
        occurred_at: datetime,
        *,
        target: str | None,
        params: Mapping[str, Any] | None,
        outcome: Outcome | None = None,
        attempt_id: uuid.UUID | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> Recorded:
        """Append one event: an attempt when ``outcome`` is None, else an outcome (of
        ``attempt_id`` when given, a single event otherwise)."""
        event_id = uuid.uuid4()
        body = event_body(
            ctx,
            action,
            event_id=event_id,
            occurred_at=occurred_at,
            target=target,
            params=params,
            phase="attempt" if outcome is None else "outcome",
            outcome=outcome,
            attempt_id=attempt_id,
            http_status=http_status,
            error=error,
        )
        appended = await self._append(body, action=action)
        return Recorded(event_id=event_id, seq=appended.seq, hash=appended.hash, recorded_at=appended.recorded_at)

    async def _append(self, body: dict[str, Any], *, action: str) -> repository.Appended:
        payload = dump_body(body).decode()
        started = time.perf_counter()
        ok = False
        try:
            with tracing.span(
                "audit.append", attributes={"raxx.audit.action": action, "raxx.audit.phase": body.get("phase", "")}
            ) as current:
                async with asyncio.timeout(self.timeout):
                    appended = await self._batcher.append(payload)
                if current is not None:
                    current.set_attribute("raxx.audit.seq", appended.seq)
            ok = True
            return appended
        except IntegrityError as exc:
            if _violates(exc, ONE_OUTCOME_INDEX):
                raise OutcomeAlreadyRecorded("this attempt already has an outcome") from None
            raise _unavailable(action, exc) from exc
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise _unavailable(action, exc) from exc
        finally:
            audit_appended(body.get("environment"), body["phase"], ok, time.perf_counter() - started)


def _violates(exc: IntegrityError, constraint: str) -> bool:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) == constraint


def _unavailable(action: str, exc: BaseException) -> AuditUnavailable:
    reason = _reason(exc)
    log_event(log, "audit.append.failed", level=logging.ERROR, action=action, reason=reason)
    return AuditUnavailable(f"the audit trail could not record {action!r} ({reason}); the action was not performed")


def _reason(exc: BaseException) -> str:
    """A short, operator-readable cause, without connection strings or SQL."""
    if isinstance(exc, TimeoutError):
        return "audit database timed out"
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "42501":
        return "audit database refused the write: permission denied"
    if sqlstate:
        return f"audit database refused the write (SQLSTATE {sqlstate})"
    return "audit database unreachable"
