"""What an audit event says: who acts and where (:class:`AuditContext`), what came of it
(:data:`Outcome`), what a write returns (:class:`Attempt`, :class:`Recorded`, :class:`ActionScope`),
and the canonical body built from them (:func:`event_body`; its encoding is
:mod:`raxx.console.audit.canonical`). :class:`raxx.console.audit.service.AuditTrail` writes them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from raxx.common.environments import ENV_NAME_RE
from raxx.console.audit.canonical import (
    BODY_VERSION,
    FIELD_LIMITS,
    format_timestamp,
    neutralize,
    sanitize_params,
    session_hash,
    validate_action,
)

Outcome = Literal["ok", "denied", "failed", "unknown"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "denied", "failed", "unknown")
SESSION_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


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
class Recorded:
    """A committed event: what the database gave it, and its id."""

    event_id: uuid.UUID
    seq: int
    hash: str
    recorded_at: datetime


@dataclass(frozen=True)
class Attempt(Recorded):
    """A committed attempt: what :meth:`AuditTrail.outcome` links its outcome to."""

    occurred_at: datetime
    context: AuditContext
    action: str
    target: str | None


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


def checked_outcome(outcome: str) -> Outcome:
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


def event_body(
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
