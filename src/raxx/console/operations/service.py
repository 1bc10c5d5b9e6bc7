"""The trading actions, each through :func:`raxx.console.actions.perform`, and their confirmations.

The web pages and the JSON API call these same functions, so a placement is the same
action (same name, target, parameters, audit record) whichever door it came through.
"""

from __future__ import annotations

import uuid

from raxx.common.actions import CANCEL_ALL_ORDERS, CANCEL_ORDER, HALT_TRADING, PLACE_ORDER, RESUME_TRADING
from raxx.common.contracts.trading import CancelAllResult, OrderCreate, OrderRead, TradingStateRead
from raxx.common.environments import EnvironmentSpec
from raxx.console.actions import ActionCall, ActionScope, Actor, perform
from raxx.console.confirmation.service import Confirmable
from raxx.console.operations.forms import order_params, order_phrase
from raxx.console.raptor.trading_api import Placed, TradingClient
from raxx.console.state import ConsoleState

ALL_OPEN_ORDERS = "ALL OPEN ORDERS"


def client_for(state: ConsoleState, spec: EnvironmentSpec, actor: Actor) -> TradingClient:
    """Reads: a client for ``spec``'s Raptor carrying this request's id and operator."""
    return TradingClient(state.clients[spec.name], actor.call_context())


def _client(state: ConsoleState, spec: EnvironmentSpec, scope: ActionScope) -> TradingClient:
    return TradingClient(state.clients[spec.name], scope.call)


# -- what each action is, for the audit trail and for confirmations ---------------------


def place_action(spec: EnvironmentSpec, order: OrderCreate) -> ActionCall:
    return ActionCall(PLACE_ORDER, spec.name, target=order_phrase(order), params=order_params(order))


def cancel_action(spec: EnvironmentSpec, order_id: uuid.UUID) -> ActionCall:
    return ActionCall(CANCEL_ORDER, spec.name, target=str(order_id), params={"order_id": str(order_id)})


def cancel_all_action(spec: EnvironmentSpec) -> ActionCall:
    return ActionCall(CANCEL_ALL_ORDERS, spec.name, target=ALL_OPEN_ORDERS, params={})


def halt_action(spec: EnvironmentSpec, reason: str) -> ActionCall:
    return ActionCall(HALT_TRADING, spec.name, target="HALT", params={"reason": reason})


def resume_action(spec: EnvironmentSpec) -> ActionCall:
    return ActionCall(RESUME_TRADING, spec.name, target="RESUME", params={})


def confirmable(action: ActionCall) -> Confirmable:
    """What a typed confirmation of ``action`` binds, and what the operator types."""
    if action.environment is None or action.target is None:
        raise ValueError(f"{action.name} names no environment or target: it cannot be confirmed")
    also: tuple[str, ...] = ()
    if action.action == CANCEL_ORDER:
        also = (action.target[:8],)  # the short id the page shows in large type
    return Confirmable(
        action=action.name,
        environment=action.environment,
        params={k: str(v) for k, v in action.params.items()},
        target_phrase=action.target,
        also_accepted=also,
    )


# -- the actions ---------------------------------------------------------------------


async def place(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, order: OrderCreate) -> Placed:
    async def work(scope: ActionScope) -> Placed:
        placed = await _client(state, spec, scope).place_order(order)
        scope.set(
            http_status=201 if placed.created else 200,
            order_id=str(placed.order.id),
            status=placed.order.status,
            replayed=not placed.created,
        )
        return placed

    return await perform(state.audit, actor, place_action(spec, order), work)


async def cancel(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, order_id: uuid.UUID) -> OrderRead:
    async def work(scope: ActionScope) -> OrderRead:
        order = await _client(state, spec, scope).cancel_order(order_id)
        scope.set(http_status=200, status=order.status)
        return order

    return await perform(state.audit, actor, cancel_action(spec, order_id), work)


async def cancel_all(state: ConsoleState, actor: Actor, spec: EnvironmentSpec) -> CancelAllResult:
    async def work(scope: ActionScope) -> CancelAllResult:
        result = await _client(state, spec, scope).cancel_all()
        scope.set(http_status=200, canceled=len(result.canceled), failed=len(result.failed))
        return result

    return await perform(state.audit, actor, cancel_all_action(spec), work)


class Switched(TradingStateRead):
    """Raptor's trading state after a halt or resume, and whether this request changed it."""

    changed: bool


def _switched(scope: ActionScope, result: TradingStateRead, *, asked: str | None = None) -> Switched:
    """Record what a halt or resume did. Raptor's switch is idempotent: asked for the state it is
    in, it changes nothing and answers the state in force, whose ``request_id`` is then another
    request's. So the outcome says ``changed``, and when nothing changed, the state in force
    (since when, by whom, its reason) and, under ``requested_reason``, the reason ``asked`` that was
    not taken."""
    changed = result.request_id == scope.call.request_id
    scope.set(http_status=200, halted=result.halted, changed=changed)
    if not changed:
        scope.set(in_force_since=result.changed_at.isoformat(), in_force_by=result.actor)
        if asked is not None:  # the reason in force is the first halt's
            scope.set(reason=result.reason, requested_reason=asked)
    return Switched(**result.model_dump(), changed=changed)


async def halt(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, reason: str) -> Switched:
    async def work(scope: ActionScope) -> Switched:
        return _switched(scope, await _client(state, spec, scope).halt(reason), asked=reason)

    halted = await perform(state.audit, actor, halt_action(spec, reason), work)
    if spec.protected and halted.changed:  # a halt in prod wakes someone; on staging it is a normal day's work
        await state.alerts.raise_alert(
            "trading.halted",
            environment=spec.name,
            summary=f"trading halted by {actor.user_name or actor.token_id or 'unknown'}: {reason}",
            details={"by": actor.user_name or actor.token_id, "reason": reason, "request_id": actor.request_id},
            dedup_key=halt_alert_key(spec),
        )
    return halted


async def resume(state: ConsoleState, actor: Actor, spec: EnvironmentSpec) -> Switched:
    async def work(scope: ActionScope) -> Switched:
        return _switched(scope, await _client(state, spec, scope).resume())

    resumed = await perform(state.audit, actor, resume_action(spec), work)
    if spec.protected:
        await state.alerts.resolve_alert(halt_alert_key(spec))
    return resumed


def halt_alert_key(spec: EnvironmentSpec) -> str:
    return f"trading.halted:{spec.name}"
