"""The console's JSON API, ``/api/{env}/...``: the same operations as the pages, for scripts.

Authenticated by personal tokens (``Authorization: Bearer rxc_...``) that act as their
user, with the user's per-environment roles; cookies are never read here, so no CSRF
token is needed. Errors have the one shape ``{"error", "detail", "request_id", ...}``.
Mutations go through the same services (and so the same :func:`~raxx.console.actions.perform`)
as the pages. In a protected environment, the actions that need a typed confirmation on
the web need the header ``X-Raxx-Confirm: <environment>`` here: a script must name
the environment twice, in the URL and in the header, to act there.

Reads are passed through: Raptor's bytes go back as they came (after identity and
role checks), which is what keeps this path within reach of a plain proxy's speed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from raxx.common.actions import CANCEL_ALL_ORDERS, CANCEL_ORDER, HALT_TRADING, PLACE_ORDER, RESUME_TRADING, Action
from raxx.common.asgi import REPEATED_KEY, media_type, reads_as_json, repeated_json_keys
from raxx.common.contracts.service import ErrorBody
from raxx.common.contracts.trading import (
    INEXACT_AMOUNT,
    ORDER_TYPES,
    SIDES,
    TIMES_IN_FORCE,
    canonical_order_id,
    order_id_from,
)
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import BadRequest, InvalidJson, NotFound, RaxxError, UnsupportedMediaType, field_errors
from raxx.console.actions import Actor, authorize, refuse_query
from raxx.console.audit.routes import AuditedRoute, audited
from raxx.console.deps import ApiActorDep, EnvDep, StateDep, api_env_reader
from raxx.console.operations import service
from raxx.console.operations.forms import ORDER_FIELDS, new_client_order_id, parse_order_form, parse_reason
from raxx.console.raptor.refusals import refusal_from_raw
from raxx.console.state import ConsoleState

JSON = "application/json"
CONFIRM_HEADER = "x-raxx-confirm"

_ERRORS = {
    400: "the body is not a JSON object (`invalid_json`), or the call has a query it takes none of"
    " (`unexpected_query`), or a body it takes none of (`unexpected_body`)",
    401: "no bearer token, or a malformed, unknown, revoked or expired one (`invalid_token`)",
    403: "your role in that environment does not allow it (`permission_denied`), or the token was not made"
    " for that environment (`token_out_of_scope`)",
    404: "no such environment (`unknown_environment`) or order (`order_not_found`)",
    415: "the body is not sent as JSON (`unsupported_media_type`); nothing was sent",
    409: "Raptor refused (`trading_halted`, `order_not_cancelable`, `idempotency_conflict`); nothing was done",
    422: "validation error: `detail` lists each offending field",
    428: "protected environment: add `X-Raxx-Confirm: <env>` (`confirmation_required`); nothing was sent",
    502: "Raptor answered wrongly or claims another environment; nothing was sent",
    503: "Raptor or its broker is unavailable",
    504: "Raptor timed out: the request may have been applied, check before retrying",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries: every listed code renders the one error shape."""
    return {code: {"model": ErrorBody, "description": _ERRORS[code]} for code in codes}


def _json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring the JSON body an endpoint reads itself (as raw bytes, to check it field by field)."""
    return {"requestBody": {"required": required, "content": {JSON: {"schema": schema}}}}


_ORDER_BODY = {
    "type": "object",
    "required": ["symbol", "side", "type", "quantity"],
    "properties": {
        "symbol": {"type": "string"},
        "side": {"type": "string", "enum": list(SIDES)},
        "type": {"type": "string", "enum": list(ORDER_TYPES)},
        "quantity": {"type": "string", "description": "decimal string"},
        "limit_price": {"type": ["string", "null"], "description": "decimal string; limit orders only"},
        "time_in_force": {"type": "string", "enum": list(TIMES_IN_FORCE)},
        "client_order_id": {"type": "string", "description": "the same id and body place one order"},
    },
}
_HALT_BODY = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
#: Every ``/api/{env}`` call: token, role, environment, and a Raptor that may be down or slow.
_ENV_ERRORS = (401, 403, 404, 422, 502, 503, 504)
#: Mutations add a query they would not honour, Raptor's refusals and the protected-environment confirmation.
_ACTION_ERRORS = (400, *_ENV_ERRORS, 409, 428)

router = APIRouter(prefix="/api", tags=["api"], route_class=AuditedRoute)


class ConfirmationRequired(RaxxError):
    status_code = 428
    code = "confirmation_required"


def _json(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type=JSON)


async def _passthrough(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, path: str, query: str) -> Response:
    raw = await state.clients[spec.name].send("GET", path, actor.call_context(), query=query or None)
    if raw.ok:
        return Response(raw.content, status_code=raw.status, media_type=JSON)
    raise refusal_from_raw(spec, raw)


def _may(request: Request, actor: Actor, spec: EnvironmentSpec, action: Action) -> None:
    """Role first: a forbidden caller hears 403 whatever its body looks like. Then no query: a
    mutation's only input is its path and body, so a filter it would ignore
    (``DELETE /orders?symbol=MSFT`` cancels every open order) is refused, not dropped."""
    authorize(actor, spec.name, action.capability, action=action)
    refuse_query(request.url.query, action)


def _require_confirmation(request: Request, spec: EnvironmentSpec, action: Action) -> None:
    """A protected environment's action needs exactly one ``X-Raxx-Confirm`` naming it: a
    header sent twice (``prod`` and ``staging``) confirms nothing."""
    if not spec.needs_confirmation(action):
        return
    given = request.headers.getlist(CONFIRM_HEADER)
    if len(given) != 1 or given[0].strip() != spec.name:
        twice = " (it was sent more than once)" if len(given) > 1 else ""
        raise ConfirmationRequired(
            f"{spec.label} is protected: {action.name} there needs the header 'X-Raxx-Confirm: {spec.name}'"
            f"{twice}. Nothing was sent.",
            extra={"environment": spec.name, "action": action.name},
        )


async def _act_without_body(
    request: Request,
    state: ConsoleState,
    actor: Actor,
    spec: EnvironmentSpec,
    action: Action,
    run: Callable[[ConsoleState, Actor, EnvironmentSpec], Awaitable[BaseModel]],
) -> Response:
    """An action that takes no body: the role, then the protected environment's header, then ``run``.
    A body is refused like a query string: ``DELETE /orders`` with ``{"symbol": "AAPL"}`` would
    cancel every open order, not AAPL's (an empty object is no input)."""
    _may(request, actor, spec, action)
    if (await request.body()).strip() not in (b"", b"{}"):
        raise BadRequest(
            f"{action.name} takes no body (it would not honour one). Nothing was sent.", code="unexpected_body"
        )
    _require_confirmation(request, spec, action)
    result = await run(state, actor, spec)
    return _json(result.model_dump(mode="json"))


async def _body(request: Request) -> dict[str, Any]:
    media = media_type(request)
    if not reads_as_json(media):
        raise UnsupportedMediaType.not_json(media)
    raw = await request.body() or b"{}"
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidJson("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidJson("the body must be a JSON object")
    if repeated := repeated_json_keys(raw, body):  # the body parsed above, not parsed again
        raise field_errors(dict.fromkeys(repeated, REPEATED_KEY))
    return body


def _order_id(raw: str, spec: EnvironmentSpec) -> uuid.UUID:
    """An order id, or the 404 Raptor answers for an unknown one (with the environment it names)."""
    if (order_id := order_id_from(raw)) is None:
        raise NotFound("there is no such order", code="order_not_found", extra={"environment": spec.name})
    return order_id


@router.get("/whoami", responses=_errors(401))
async def whoami(actor: ApiActorDep) -> dict[str, Any]:
    """The token's user, the environments it acts in, and the role it acts with in each."""
    return {
        "user": actor.user_name,
        "token_id": actor.token_id,
        "environments": list(actor.token_environments or ()),
        "roles": dict(actor.roles),
    }


@router.get("/{env}/identity", responses=_errors(*_ENV_ERRORS))
async def identity(env: str, request: Request) -> Response:
    _, spec, state = await api_env_reader(request, env)
    status = await state.clients[spec.name].check_identity(max_age_s=state.settings.identity_recheck_s)
    identity_json = status.identity.model_dump(mode="json") if status.identity else None
    age = None if status.age_s is None else round(status.age_s, 3)
    return _json(
        {
            "environment": spec.name,
            "state": status.state,
            "error": status.error,
            "identity": identity_json,
            "age_s": age,
        }
    )


@router.get("/{env}/orders", responses=_errors(400, *_ENV_ERRORS))
async def list_orders(env: str, request: Request) -> Response:
    actor, spec, state = await api_env_reader(request, env)
    return await _passthrough(state, actor, spec, "v1/orders", request.url.query)


@router.get("/{env}/orders/{order_id}", responses=_errors(*_ENV_ERRORS))
async def get_order(env: str, order_id: str, request: Request) -> Response:
    actor, spec, state = await api_env_reader(request, env)
    return await _passthrough(state, actor, spec, f"v1/orders/{_order_id(order_id, spec)}", "")


@router.get("/{env}/positions", responses=_errors(*_ENV_ERRORS))
async def positions(env: str, request: Request) -> Response:
    actor, spec, state = await api_env_reader(request, env)
    return await _passthrough(state, actor, spec, "v1/positions", "")


@router.get("/{env}/account", responses=_errors(*_ENV_ERRORS))
async def account(env: str, request: Request) -> Response:
    actor, spec, state = await api_env_reader(request, env)
    return await _passthrough(state, actor, spec, "v1/account", "")


@router.get("/{env}/trading", responses=_errors(*_ENV_ERRORS))
async def trading(env: str, request: Request) -> Response:
    actor, spec, state = await api_env_reader(request, env)
    return await _passthrough(state, actor, spec, "v1/trading", "")


@router.post(
    "/{env}/orders",
    status_code=201,
    responses={
        200: {"description": "a replay of the same `client_order_id`: the order it placed"},
        **_errors(415, *_ACTION_ERRORS),
    },
    openapi_extra=_json_body(_ORDER_BODY),
)
@audited(PLACE_ORDER.name, target_field="symbol")
async def place_order(request: Request, state: StateDep, actor: ApiActorDep, spec: EnvDep) -> Response:
    """Place an order. Send ``client_order_id`` to make retries safe (the same id places one order)."""
    _may(request, actor, spec, PLACE_ORDER)
    body = await _body(request)
    inexact = {name: INEXACT_AMOUNT for name, value in body.items() if isinstance(value, float)}
    fields = {k: "" if v is None else str(v) for k, v in body.items()}
    fields.setdefault("time_in_force", "day")
    fields.setdefault("client_order_id", new_client_order_id())
    unknown = sorted(set(fields) - set(ORDER_FIELDS))
    parsed = parse_order_form(fields)
    errors = {**parsed.errors, **inexact, **{name: "unknown field" for name in unknown}}
    if errors or parsed.order is None:
        raise field_errors(errors)
    _require_confirmation(request, spec, PLACE_ORDER)
    placed = await service.place(state, actor, spec, parsed.order)
    return _json(placed.order.model_dump(mode="json"), 201 if placed.created else 200)


@router.delete("/{env}/orders/{order_id}", responses=_errors(*_ACTION_ERRORS))
@audited(CANCEL_ORDER.name, target_field="order_id", target_rule=canonical_order_id)
async def cancel_order(order_id: str, request: Request, state: StateDep, actor: ApiActorDep, spec: EnvDep) -> Response:
    _may(request, actor, spec, CANCEL_ORDER)
    oid = _order_id(order_id, spec)
    _require_confirmation(request, spec, CANCEL_ORDER)
    order = await service.cancel(state, actor, spec, oid)
    return _json(order.model_dump(mode="json"))


@router.delete("/{env}/orders", responses=_errors(*_ACTION_ERRORS))
@audited(CANCEL_ALL_ORDERS.name)
async def cancel_all(request: Request, state: StateDep, actor: ApiActorDep, spec: EnvDep) -> Response:
    return await _act_without_body(request, state, actor, spec, CANCEL_ALL_ORDERS, service.cancel_all)


@router.post("/{env}/trading/halt", responses=_errors(415, *_ACTION_ERRORS), openapi_extra=_json_body(_HALT_BODY))
@audited(HALT_TRADING.name)
async def halt(request: Request, state: StateDep, actor: ApiActorDep, spec: EnvDep) -> Response:
    _may(request, actor, spec, HALT_TRADING)
    body = await _body(request)
    reason = body.get("reason")
    parsed = parse_reason({"reason": reason if isinstance(reason, str) else ""})
    errors = {name: "unknown field" for name in sorted(set(body) - {"reason"})}
    if reason is not None and not isinstance(reason, str):
        errors["reason"] = "the reason is text (a JSON string)"
    if errors or not parsed.ok:
        raise field_errors({**parsed.errors, **errors})
    _require_confirmation(request, spec, HALT_TRADING)
    result = await service.halt(state, actor, spec, parsed.values["reason"])
    return _json(result.model_dump(mode="json"))


@router.post("/{env}/trading/resume", responses=_errors(*_ACTION_ERRORS))
@audited(RESUME_TRADING.name)
async def resume(request: Request, state: StateDep, actor: ApiActorDep, spec: EnvDep) -> Response:
    return await _act_without_body(request, state, actor, spec, RESUME_TRADING, service.resume)
