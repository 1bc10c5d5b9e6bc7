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
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import anyio
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common import tracing
from raxx.common.clock import Clock, SystemClock
from raxx.common.environments import ENV_NAME_RE
from raxx.common.errors import Conflict, Unavailable
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.audit.batching import AppendBatcher
from raxx.console.audit.canonical import (
    BODY_VERSION,
    FIELD_LIMITS,
    dump_body,
    format_timestamp,
    neutralize,
    sanitize_params,
    session_hash,
    validate_action,
)
from raxx.console.audit.classify import classify_exception
from raxx.console.metrics import audit_appended

log = logging.getLogger("raxx.console.audit")

Outcome = Literal["ok", "denied", "failed", "unknown"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "denied", "failed", "unknown")
ONE_OUTCOME_INDEX = "uq_audit_event_attempt_id"
SESSION_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
#: A request that only asked for a confirmation is recorded as its own action, ``<action>.prompt``
#: (``audit/routes.py``): a prompt is not the action, whatever its outcome.
PROMPT_SUFFIX = ".prompt"


class AuditUnavailable(Unavailable):
    """The audit trail could not record an attempt, so the action was not performed."""

    code = "audit_unavailable"


class OutcomeAlreadyRecorded(Conflict):
    """The attempt already has an outcome (another writer, e.g. the reconciler, closed it)."""

    code = "audit_outcome_exists"


@dataclass(frozen=True)
class AuditContext:
    """Who acts, where, through which request. Built per request by the console.

    ``session_id`` is the raw session id: the trail stores only its SHA-256.
    ``client_ip`` and ``user_agent`` are untrusted strings; they are neutralized
    (control characters escaped, length capped) before they are stored.
    ``request_id`` is the ``X-Request-ID`` the console sends to Raptor for this action.
    ``session_hash`` is only for copying the context of a stored event (the reconciler
    does); routes pass ``session_id``.
    ``session_env`` is the environment the session had selected at that moment (it may
    differ from ``environment``, the one acted on, when the action came from an older
    tab); ``origin`` is the console page the request came from (an untrusted path).
    """

    actor_id: uuid.UUID | str | None = None
    actor_name: str | None = None
    session_id: str | None = None
    environment: str | None = None
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    session_hash: str | None = None
    session_env: str | None = None
    origin: str | None = None


@dataclass(frozen=True)
class Attempt:
    """A committed attempt: what :meth:`AuditTrail.outcome` links its outcome to."""

    event_id: uuid.UUID
    seq: int
    hash: str
    recorded_at: datetime
    occurred_at: datetime
    context: AuditContext
    action: str
    target: str | None


@dataclass(frozen=True)
class Recorded:
    """A committed single event or outcome."""

    event_id: uuid.UUID
    seq: int
    hash: str
    recorded_at: datetime


@dataclass
class ActionScope:
    """Handed to the body of ``async with trail.action(...)``.

    By default a body that returns normally records ``ok`` and one that raises
    records what the exception says (see :func:`raxx.console.audit.classify.classify_exception`).
    Call :meth:`set` to say more: the HTTP status Raptor answered, an outcome other
    than the default, result parameters (a new order id).
    """

    attempt: Attempt
    outcome: Outcome | None = None
    http_status: int | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: False when the outcome could not be written (the reconciler will close the attempt).
    outcome_recorded: bool = False
    #: Who the outcome names when the request itself established it (a login: the user).
    actor: tuple[uuid.UUID | str | None, str | None] | None = None

    @property
    def request_id(self) -> str | None:
        return self.attempt.context.request_id

    def set_from_status(self, status: int) -> None:
        """Derive the outcome from the HTTP status of the response, unless the body already set one."""
        if self.http_status is None:
            self.http_status = status
        if self.outcome is None:
            self.outcome = outcome_of_status(status)

    def identify(self, actor_id: uuid.UUID | str | None, actor_name: str | None) -> None:
        """The outcome names this actor (the attempt was written before anyone was known)."""
        self.actor = (actor_id, actor_name)

    def set(
        self,
        outcome: Outcome | None = None,
        *,
        http_status: int | None = None,
        error: str | None = None,
        **params: Any,
    ) -> None:
        if outcome is not None:
            self.outcome = outcome
        if http_status is not None:
            self.http_status = http_status
        if error is not None:
            self.error = error
        self.params.update(params)


def outcome_of_status(status: int) -> Outcome:
    """2xx/3xx: ok; 401, 403, 429 (refused to this actor): denied; any other: failed."""
    if status < 400:
        return "ok"
    if status in (401, 403, 429):
        return "denied"
    return "failed"


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
        event_id, occurred_at = uuid.uuid4(), self.clock.now()
        body = _body(
            ctx,
            action,
            event_id=event_id,
            occurred_at=occurred_at,
            target=target,
            params=params,
            phase="attempt",
            outcome=None,
            attempt_id=None,
            http_status=None,
            error=None,
        )
        appended = await self._append(body, action=action)
        return Attempt(
            event_id=event_id,
            seq=appended.seq,
            hash=appended.hash,
            recorded_at=appended.recorded_at,
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
        event_id = uuid.uuid4()
        body = _body(
            ctx,
            action,
            event_id=event_id,
            occurred_at=self.clock.now(),
            target=target,
            params=params,
            phase="outcome",
            outcome=_checked_outcome(outcome),
            attempt_id=None,
            http_status=http_status,
            error=error,
        )
        appended = await self._append(body, action=action)
        return Recorded(event_id=event_id, seq=appended.seq, hash=appended.hash, recorded_at=appended.recorded_at)

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
                scope.outcome if scope.outcome not in (None, "ok") else _checked_outcome(verdict.outcome),
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
        event_id = uuid.uuid4()
        context = attempt.context
        if actor is not None:
            context = replace(context, actor_id=actor[0], actor_name=actor[1])
        body = _body(
            context,
            attempt.action,
            event_id=event_id,
            occurred_at=self.clock.now(),
            target=attempt.target,
            params=params,
            phase="outcome",
            outcome=_checked_outcome(outcome),
            attempt_id=attempt.event_id,
            http_status=http_status,
            error=error,
        )
        appended = await self._append(body, action=attempt.action)
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


def _checked_outcome(outcome: str) -> Outcome:
    """``outcome`` if it is one of :data:`OUTCOMES` (a typo must not reach the table)."""
    for known in OUTCOMES:
        if outcome == known:
            return known
    raise ValueError(f"not an audit outcome: {outcome!r}; expected one of {OUTCOMES}")


def _uuid_or_none(value: uuid.UUID | str | None) -> str | None:
    return None if value is None else str(uuid.UUID(str(value)))


def _hashed(value: str | None) -> str | None:
    """A precomputed session hash must look like one (never a raw session id by mistake)."""
    if value is not None and not SESSION_HASH_RE.match(value):
        raise ValueError("session_hash must be a SHA-256 hex digest; pass raw ids as session_id")
    return value


def _environment(value: str | None) -> str | None:
    if value is not None and not ENV_NAME_RE.match(value):
        raise ValueError(f"not an environment name: {value!r}")
    return value


def _body(
    ctx: AuditContext,
    action: str,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    target: str | None,
    params: Mapping[str, Any] | None,
    phase: str,
    outcome: str | None,
    attempt_id: uuid.UUID | None,
    http_status: int | None,
    error: str | None,
) -> dict[str, Any]:
    """The canonical event body (see :mod:`raxx.console.audit.canonical`)."""
    return {
        "v": BODY_VERSION,
        "event_id": str(event_id),
        "occurred_at": format_timestamp(occurred_at),
        "actor_id": _uuid_or_none(ctx.actor_id),
        "actor_name": neutralize(ctx.actor_name, FIELD_LIMITS["actor_name"]),
        "session_hash": session_hash(ctx.session_id) if ctx.session_id else _hashed(ctx.session_hash),
        "environment": _environment(ctx.environment),
        "action": validate_action(action),
        "target": neutralize(target, FIELD_LIMITS["target"]),
        "params": sanitize_params(params),
        "phase": phase,
        "outcome": outcome,
        "attempt_id": str(attempt_id) if attempt_id else None,
        "http_status": int(http_status) if http_status is not None else None,
        "error": neutralize(error, FIELD_LIMITS["error"]),
        "request_id": neutralize(ctx.request_id, FIELD_LIMITS["request_id"]),
        "client_ip": neutralize(ctx.client_ip, FIELD_LIMITS["client_ip"]),
        "user_agent": neutralize(ctx.user_agent, FIELD_LIMITS["user_agent"]),
        "session_env": _environment(ctx.session_env),
        "origin": neutralize(ctx.origin, FIELD_LIMITS["origin"]),
    }
