"""Approve, promote and roll back from the releases page, through the gate's own rules.

Each route is audited (attempt before, outcome after, with the environment acted on),
checks the CSRF token, that the form names the URL's environment and that the operator is
an administrator there (a release owner), then asks the gate through the ledger
(:mod:`raxx.console.release_requests`) and reports what the gate decided. A promotion needs
the release and the environment typed out. The gate refuses its own deployer's approval,
an unsoaked release, a missing approval, a freeze... in its own words, which the page
shows and the audit outcome keeps.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from raxx.common.actions import APPROVE_RELEASE, PROMOTE_RELEASE, ROLLBACK_RELEASE, Action
from raxx.common.asgi import request_id_of
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import BadRequest
from raxx.common.storable import OneLineText
from raxx.console.actions import ActionCall, ActionScope, perform
from raxx.console.audit.events import Outcome
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth.service import Login
from raxx.console.deps import EnvReaderDep, StateDep, web_actor
from raxx.console.pages.guard import audited_action, guard_mutation, read_form
from raxx.console.release_requests import ReleaseAction, RequestOutcome, ask
from raxx.console.state import ConsoleState

router = APIRouter(tags=["releases"], route_class=AuditedRoute)
#: The gate's answer as the audit trail's outcome.
_AUDIT_OUTCOMES: dict[str, Outcome] = {"done": "ok", "refused": "denied", "failed": "failed"}
#: The gate's request kind -> the console's action.
_ACTIONS: dict[ReleaseAction, Action] = {
    "approve": APPROVE_RELEASE,
    "promote": PROMOTE_RELEASE,
    "rollback": ROLLBACK_RELEASE,
}


def _field(form: dict[str, str], name: str, what: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise BadRequest(f"say which {what}")
    if len(value) > 200:
        raise BadRequest(f"a {what} id is at most 200 characters (this one has {len(value)})")
    return value


async def _act(
    request: Request, state: ConsoleState, access: tuple[Login, EnvironmentSpec], app: str, action: ReleaseAction
) -> RedirectResponse:
    login, spec = access
    form = await read_form(request)
    kind = _ACTIONS[action]
    guard_mutation(request, login, spec, form, kind)
    release = _field(form, "release", "release") if action != "rollback" else form.get("release", "").strip() or None
    if action == "promote" and (form.get("typed_release", "").strip(), form.get("typed_env", "").strip()) != (
        release,
        spec.name,
    ):
        raise BadRequest(f"to promote, type the release ({release}) and the environment ({spec.name}) exactly")
    note = form.get("note", "").strip()[:500] or None

    async def work(scope: ActionScope) -> RequestOutcome:
        result = await ask(
            state,
            action=action,
            app=app,
            environment=spec.name,
            release_id=release,
            actor=login.user_name,
            note=note,
            via_request_id=request_id_of(request),
        )
        outcome = _AUDIT_OUTCOMES.get(result.status, "unknown")  # still queued: the gate has not said yet
        error = f"{result.code}: {result.detail}" if outcome != "ok" else None
        scope.set(outcome, error=error, gate_request=str(result.request_id), gate_status=result.status)
        return result

    target = f"{app}-{spec.name} {release or 'previous'}"
    done = await perform(state.audit, web_actor(request, login), ActionCall(kind, spec.name, target=target), work)
    return RedirectResponse(f"/releases?request={done.request_id}", status_code=303)


@router.post("/{env}/releases/{app}/approve")
@audited_action(APPROVE_RELEASE, target_field="release")
async def approve(app: OneLineText, request: Request, state: StateDep, access: EnvReaderDep) -> RedirectResponse:
    return await _act(request, state, access, app, "approve")


@router.post("/{env}/releases/{app}/promote")
@audited_action(PROMOTE_RELEASE, target_field="release")
async def promote(app: OneLineText, request: Request, state: StateDep, access: EnvReaderDep) -> RedirectResponse:
    return await _act(request, state, access, app, "promote")


@router.post("/{env}/releases/{app}/rollback")
@audited_action(ROLLBACK_RELEASE, target_field="release")
async def rollback(app: OneLineText, request: Request, state: StateDep, access: EnvReaderDep) -> RedirectResponse:
    return await _act(request, state, access, app, "rollback")
