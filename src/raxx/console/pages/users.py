"""Who may do what in one environment: admins there grant, change and remove roles there.

A role is per environment: being admin in staging says nothing about prod. Nobody
changes their own role (ask another admin): it keeps an admin from locking everyone
out by accident, and every change has two people behind it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raxx.common.actions import CHANGE_ROLE
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import BadRequest
from raxx.console.actions import ActionCall, ActionScope, Actor, perform
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth import repository
from raxx.console.auth import service as auth_service
from raxx.console.auth.roles import NO_ROLE, ROLE_NAMES
from raxx.console.deps import DbDep, EnvReaderDep, StateDep, require_capability
from raxx.console.pages.guard import audited_action, begin_mutation
from raxx.console.pages.notices import notice_from
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["users"], route_class=AuditedRoute)


@router.get("/{env}/users", response_class=HTMLResponse)
async def users_page(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> HTMLResponse:
    login, spec = access
    require_capability(login, spec.name, CHANGE_ROLE.capability, action=CHANGE_ROLE)
    return await render(
        request,
        state,
        "users.html",
        env=spec,
        login=login,
        users=await repository.users_with_role_in(db, spec.name),
        roles=ROLE_NAMES,
        notice=await notice_from(request, db, login, environment=spec.name),
    )


def _role_call(spec: EnvironmentSpec, user_name: str, role: str) -> ActionCall:
    return ActionCall(CHANGE_ROLE, spec.name, target=user_name, params={"role": role})


async def change_role(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, user_name: str, role: str) -> None:
    """Grant ``role`` (or remove access, ``none``) in ``spec``, committed before the outcome is recorded."""
    if user_name == actor.user_name:
        raise BadRequest("You cannot change your own role; ask another admin.", code="own_role")
    if role != NO_ROLE and role not in ROLE_NAMES:
        raise BadRequest(f"unknown role {role!r}", code="unknown_role")
    action = _role_call(spec, user_name, role)

    async def work(scope: ActionScope) -> None:
        async with state.sessions() as db, db.begin():
            if role == NO_ROLE:
                await auth_service.revoke_role(db, user_name, spec.name)
            else:
                await auth_service.grant(db, user_name, spec.name, role)
        state.api_tokens.forget()  # the user's tokens carry the new role at once in this process
        scope.set(role=role)

    await perform(state.audit, actor, action, work)


@router.post("/{env}/users/role", response_class=HTMLResponse)
@audited_action(CHANGE_ROLE, target_field="user")
async def set_role(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    act = await begin_mutation(request, state, db, access, CHANGE_ROLE)
    role, user_name = act.form.get("role", ""), act.form.get("user", "")
    if (confirm := await act.confirm(_role_call(act.spec, user_name, role))) is not None:
        return confirm
    await change_role(state, act.actor, act.spec, user_name, role)
    return await act.see("/users", "role_changed")
