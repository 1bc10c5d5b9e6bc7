"""The one door every console mutation goes through: :func:`perform`.

Placing, canceling, cancel-all, halt, resume, role changes and personal-token changes,
from the web pages and from the JSON API alike, call :func:`perform` (the command line's
``raxx console user|token ...``: :func:`perform_from_cli`, the same record without a role check). It

1. checks the actor's capability (the table's) in the action's environment (a refusal is a typed
   :class:`PermissionDenied`, 403);
2. runs the work inside the action's audit record. From a route, that record is the
   route's: :class:`~raxx.console.audit.routes.AuditedRoute` commits the attempt before
   the endpoint runs (so before anything is sent to Raptor; if it cannot be written the
   endpoint never runs) and the outcome after. Outside an audited route, :func:`perform`
   opens the record itself, with the same fail-closed rule;
3. hands the work a :class:`CallContext` (this request's id and the operator) for Raptor;
4. adds to the outcome what only the action knows: its canonical target and parameters,
   Raptor's status, the result (a new order id).

What each action is (its audit name, capability, refusal words, confirmation phrase) is
the table in :mod:`raxx.common.actions`; an :class:`ActionCall` is one use of it.

Events that are not actions (sign-in, sign-out, switches) are audited by their routes;
refusals (permission denials, identity mismatches) by the error handler.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from raxx.common.actions import Action
from raxx.common.errors import BadRequest, Forbidden
from raxx.console.audit.cli import cli_context
from raxx.console.audit.events import ActionScope as AuditScope
from raxx.console.audit.events import AuditContext, Outcome
from raxx.console.audit.service import PROMPT_SUFFIX, AuditTrail
from raxx.console.auth.roles import can
from raxx.console.raptor.client import CallContext

T = TypeVar("T")
Channel = Literal["web", "api"]

#: How a refusal names a capability, for an action whose table entry has no words of its own.
CAPABILITY_WORDS = {"read": "see anything", "trade": "trade", "admin": "administer", "audit": "read the audit trail"}


class PermissionDenied(Forbidden):
    code = "permission_denied"


class TokenOutOfScope(PermissionDenied):
    """An API token used in an environment it was not made for (whatever its user's roles there)."""

    code = "token_out_of_scope"


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
    #: An API token's scope: the only environments it acts in (None: not a token).
    token_environments: tuple[str, ...] | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    #: The audit record the route opened for this request (None outside an audited route).
    audit_scope: AuditScope | None = None
    #: How and when the operator authenticated (``password``/``oidc``, ``auth_time``): web sessions.
    auth_method: str | None = None
    auth_time: datetime | None = None

    def auth_params(self) -> dict[str, Any]:
        """What the audit trail records of how the actor authenticated (empty for API tokens)."""
        if self.auth_method is None:
            return {}
        return {"auth_method": self.auth_method, "auth_time": self.auth_time.isoformat() if self.auth_time else None}

    def call_context(self) -> CallContext:
        """What Raptor is told: this request's id and the operator (``X-Raxx-Actor``)."""
        name = self.user_name or "anonymous"
        return CallContext(request_id=self.request_id, actor=f"{name} (api)" if self.channel == "api" else name)

    def audit_context(self, environment: str | None) -> AuditContext:
        return AuditContext(
            actor_id=self.user_id,
            actor_name=self.user_name,
            session_hash=self.session_hash,
            environment=environment,
            request_id=self.request_id,
            client_ip=self.client_ip,
            user_agent=self.user_agent,
        )


@dataclass(frozen=True)
class ActionCall:
    """One mutation asked for: which :class:`~raxx.common.actions.Action` of the table, in which
    environment, on what, with which parameters."""

    action: Action
    environment: str | None
    target: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What the audit trail records."""
        return self.action.name

    @property
    def phrase(self) -> str:
        """What its confirmation page asks and its button says."""
        return self.action.phrase or self.action.name


@dataclass
class ActionScope:
    """Handed to the work of an action: the call context, and a way to add to the audit outcome."""

    call: CallContext
    audit: AuditScope

    def set(
        self, outcome: Outcome | None = None, *, http_status: int | None = None, error: str | None = None, **result: Any
    ) -> None:
        """Record Raptor's status and result parameters (a new order id); the default outcome is ``ok``."""
        self.audit.set(outcome, http_status=http_status, error=error, **result)


def authorize(actor: Actor, environment: str | None, capability: str, *, action: Action | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` may use ``capability`` in ``environment``
    (the refusal names ``action`` in its words, when there is one)."""
    if capability == "self" and actor.user_id is not None:
        return
    scope = actor.token_environments
    if scope is not None and environment is not None and environment not in scope:
        raise TokenOutOfScope(
            f"this API token acts only in {', '.join(scope) or 'no environment'}, not in {environment}."
            " Nothing was done; make a token for that environment.",
            extra={"environment": environment, "token_environments": list(scope)},
        )
    if environment is not None and can(dict(actor.roles), environment, capability):
        return
    role = actor.roles.get(environment or "")
    held = f"your role there is {role}" if role else "you hold no role there"
    what = (action.words if action else None) or CAPABILITY_WORDS.get(capability, capability)
    raise PermissionDenied(
        f"{actor.user_name} may not {what} in {environment} ({held}). Nothing was done.",
        extra={"environment": environment, "capability": capability, "action": action.name if action else None},
    )


def refuse_query(query: str, action: Action) -> None:
    """A mutation's only input is its path and its body or form: a query string it would ignore
    (``DELETE /api/staging/orders?symbol=MSFT``, a cancel-all form posted to ``?symbol=AAPL``)
    would widen what it does, so it is refused (400 ``unexpected_query``), never dropped. Both
    doors (the JSON API and the pages) call this."""
    if query:
        raise BadRequest(
            f"{action.name} takes no query parameters (it would not honour {query!r}). Nothing was sent.",
            code="unexpected_query",
        )


async def perform(
    trail: AuditTrail, actor: Actor, action: ActionCall, work: Callable[[ActionScope], Awaitable[T]]
) -> T:
    """Authorize, run ``work`` inside the action's audit record, return what ``work`` returned.

    From a route the record is the route's (its attempt is already committed); otherwise
    one is opened here, and if its attempt cannot be written ``work`` never runs.
    """
    authorize(actor, action.environment, action.action.capability, action=action.action)
    if actor.audit_scope is not None and actor.audit_scope.attempt.action.endswith(PROMPT_SUFFIX):
        # The record says "only a confirmation was asked": acting inside it would hide the action.
        raise RuntimeError(f"{action.name} may not run inside the record of a confirmation prompt")
    if actor.audit_scope is not None:
        actor.audit_scope.set(
            action=action.name, target=action.target, channel=actor.channel, **actor.auth_params(), **action.params
        )
        return await work(ActionScope(call=actor.call_context(), audit=actor.audit_scope))
    params = {**actor.auth_params(), **action.params}
    return await _in_record(
        trail,
        actor.audit_context(action.environment),
        action,
        params,
        lambda scope: work(ActionScope(call=actor.call_context(), audit=scope)),
    )


async def perform_from_cli(trail: AuditTrail, action: ActionCall, work: Callable[[AuditScope], Awaitable[T]]) -> T:
    """The command line's door (``raxx console ...``): run ``work`` inside the action's audit
    record, opened here with the same fail-closed rule as :func:`perform`, the operating-system
    user as the actor (:func:`~raxx.console.audit.cli.cli_context`). No role is checked: whoever
    holds the console database's URL administers the console."""
    return await _in_record(trail, cli_context(action.environment), action, action.params, work)


async def _in_record(
    trail: AuditTrail,
    ctx: AuditContext,
    action: ActionCall,
    params: Mapping[str, Any],
    work: Callable[[AuditScope], Awaitable[T]],
) -> T:
    """The attempt committed (else ``work`` never runs), ``work``, then its outcome."""
    async with trail.action(ctx, action.name, target=action.target, params=params) as scope:
        return await work(scope)
