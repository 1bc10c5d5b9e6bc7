"""The one door every console mutation goes through: :func:`perform`.

Placing, canceling, cancel-all, halt, resume, role changes and personal-token changes,
from the web pages and from the JSON API alike, all call :func:`perform`. It

1. checks the actor's capability in the action's environment (a refusal is a typed
   :class:`PermissionDenied`, recorded by the error handler),
2. opens the action in the :class:`Journal` (the audit trail: the attempt is recorded
   *before* anything is sent; if it cannot be recorded the action does not happen),
3. runs the work with a :class:`CallContext` carrying the request id and the operator,
4. records the outcome, whatever happened.

Single events that are not actions (logins, failed logins, logouts, environment
switches, permission denials, CSRF failures, identity mismatches) go through
:func:`record`. Both write to ``state.journal``: wiring the audit trail is choosing
that object, in one place (``app.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from raxx.common.errors import Forbidden, RaxxError
from raxx.common.logging import log_event
from raxx.console.auth.roles import can
from raxx.console.raptor_client import CallContext

log = logging.getLogger("raxx.console.actions")
T = TypeVar("T")

Outcome = Literal["ok", "denied", "failed", "unknown"]
Channel = Literal["web", "api"]

#: Every mutation the console can perform, and the capability it needs in its environment.
#: ``self`` actions act on the actor's own account and need only a login.
ACTIONS: dict[str, str] = {
    "order.place": "trade",
    "order.cancel": "trade",
    "order.cancel_all": "trade",
    "trading.halt": "admin",
    "trading.resume": "admin",
    "user.role.grant": "admin",
    "user.role.revoke": "admin",
    "token.create": "self",
    "token.revoke": "self",
}


#: How a refusal names what was attempted, in words.
ACTION_WORDS: dict[str, str] = {
    "order.place": "place orders",
    "order.cancel": "cancel orders",
    "order.cancel_all": "cancel all orders",
    "trading.halt": "halt trading",
    "trading.resume": "resume trading",
    "user.role.grant": "manage users",
    "user.role.revoke": "manage users",
}
CAPABILITY_WORDS = {"read": "see anything", "trade": "trade", "admin": "administer", "audit": "read the audit trail"}


class PermissionDenied(Forbidden):
    code = "permission_denied"


@dataclass(frozen=True)
class Actor:
    """Who acts, and through which request. Built per request from a login or an API token."""

    user_id: uuid.UUID | None
    user_name: str | None
    roles: Mapping[str, str]
    request_id: str
    channel: Channel
    session_hash: str | None = None
    token_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None

    def call_context(self) -> CallContext:
        """What Raptor is told: this request's id and the operator (``X-Raxx-Actor``)."""
        name = self.user_name or "anonymous"
        return CallContext(request_id=self.request_id, actor=f"{name} (api)" if self.channel == "api" else name)


@dataclass(frozen=True)
class Action:
    """One mutation: its name (a key of :data:`ACTIONS`), where, on what, with which parameters."""

    name: str
    environment: str | None
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def capability(self) -> str:
        return ACTIONS[self.name]


@dataclass
class ActionScope:
    """Handed to the work of an action: the call context, and a way to say what happened."""

    call: CallContext
    outcome: Outcome | None = None
    http_status: int | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def set(
        self, outcome: Outcome | None = None, *, http_status: int | None = None, error: str | None = None, **result: Any
    ) -> None:
        """Record Raptor's status and result parameters (a new order id); default outcome is ``ok``."""
        if outcome is not None:
            self.outcome = outcome
        if http_status is not None:
            self.http_status = http_status
        if error is not None:
            self.error = error
        self.result.update(result)


class Journal(Protocol):
    """Where actions and events are recorded. The audit trail implements it; so does :class:`LogJournal`."""

    def action(self, actor: Actor, action: Action) -> AbstractAsyncContextManager[ActionScope]:
        """Record the attempt before the body runs (raise, and the body never runs), then the outcome."""
        ...

    async def event(
        self,
        actor: Actor | None,
        name: str,
        *,
        outcome: Outcome,
        environment: str | None = None,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record a single event (login, switch, denial, ...)."""
        ...


def outcome_of(exc: BaseException) -> tuple[Outcome, int | None, str]:
    """What an exception out of an action's work means: did the backend possibly act?"""
    declared = getattr(exc, "audit_outcome", None)
    status = exc.status_code if isinstance(exc, RaxxError) else None
    error = f"{exc.code}: {exc.detail}" if isinstance(exc, RaxxError) else type(exc).__name__
    if declared in ("ok", "denied", "failed", "unknown"):
        return declared, status, error
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
        return "unknown", status, "interrupted before the outcome was known"
    if status in (401, 403):
        return "denied", status, error
    return "failed", status, error


class LogJournal:
    """Structured log lines only: the stand-in until the audit trail is wired (see module docstring)."""

    @asynccontextmanager
    async def action(self, actor: Actor, action: Action) -> AsyncIterator[ActionScope]:
        scope = ActionScope(call=actor.call_context())
        log_event(log, "console.action.attempt", **_fields(actor, action))
        try:
            yield scope
        except BaseException as exc:
            outcome, status, error = outcome_of(exc)
            log_event(
                log,
                "console.action.outcome",
                level=logging.WARNING,
                outcome=scope.outcome if scope.outcome not in (None, "ok") else outcome,
                http_status=scope.http_status or status,
                error=error,
                **_fields(actor, action),
            )
            raise
        log_event(
            log,
            "console.action.outcome",
            outcome=scope.outcome or "ok",
            http_status=scope.http_status,
            error=scope.error,
            result=scope.result,
            **_fields(actor, action),
        )

    async def event(
        self,
        actor: Actor | None,
        name: str,
        *,
        outcome: Outcome,
        environment: str | None = None,
        target: str | None = None,
        params: Mapping[str, Any] | None = None,
        http_status: int | None = None,
        error: str | None = None,
    ) -> None:
        level = logging.INFO if outcome == "ok" else logging.WARNING
        log_event(
            log,
            "console.event." + name,
            level=level,
            outcome=outcome,
            environment=environment,
            target=target,
            params=dict(params or {}),
            http_status=http_status,
            error=error,
            user=actor.user_name if actor else None,
            request_id=actor.request_id if actor else None,
        )


def _fields(actor: Actor, action: Action) -> dict[str, Any]:
    return {
        "action": action.name,
        "environment": action.environment,
        "target": action.target,
        "params": dict(action.params),
        "user": actor.user_name,
        "channel": actor.channel,
        "request_id": actor.request_id,
    }


def authorize(actor: Actor, environment: str | None, capability: str, *, action: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may use ``capability`` in ``environment``."""
    if capability == "self" and actor.user_id is not None:
        return
    if environment is not None and can(dict(actor.roles), environment, capability):
        return
    role = actor.roles.get(environment or "")
    held = f"your role there is {role}" if role else "you hold no role there"
    what = ACTION_WORDS.get(action or "", CAPABILITY_WORDS.get(capability, capability))
    raise PermissionDenied(
        f"{actor.user_name} may not {what} in {environment} ({held}). Nothing was done.",
        extra={"environment": environment, "capability": capability, "action": action},
    )


async def perform(journal: Journal, actor: Actor, action: Action, work: Callable[[ActionScope], Awaitable[T]]) -> T:
    """Authorize, record the attempt, run ``work``, record the outcome; return what ``work`` returned.

    If the attempt cannot be recorded, the journal raises and ``work`` never runs.
    """
    authorize(actor, action.environment, action.capability, action=action.name)
    async with journal.action(actor, action) as scope:
        return await work(scope)


async def record(
    journal: Journal,
    actor: Actor | None,
    name: str,
    *,
    outcome: Outcome,
    environment: str | None = None,
    target: str | None = None,
    params: Mapping[str, Any] | None = None,
    http_status: int | None = None,
    error: str | None = None,
    required: bool = False,
) -> None:
    """Record a single event.

    ``required`` events are changes of state (an environment switch): if they cannot be
    recorded the journal's error propagates and the caller must not go on. Other events
    report something already decided (a refusal, a login); failing to record them is
    logged loudly and not raised.
    """
    try:
        await journal.event(
            actor,
            name,
            outcome=outcome,
            environment=environment,
            target=target,
            params=params,
            http_status=http_status,
            error=error,
        )
    except Exception as exc:
        if required:
            raise
        log_event(log, "console.event.unrecorded", level=logging.ERROR, event_name=name, error=type(exc).__name__)
