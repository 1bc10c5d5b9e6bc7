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
from raxx.console.audit.routes import AuditedRoute, audited
from raxx.console.auth import repository
from raxx.console.auth import service as auth_service
from raxx.console.auth.roles import ROLE_NAMES
from raxx.console.deps import DbDep, EnvReaderDep, StateDep, require_capability, web_actor
from raxx.console.pages.guard import asks_confirmation, confirmation_gate, guard_mutation, read_form
from raxx.console.pages.notices import notice_from, redirect_with_notice
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["users"], route_class=AuditedRoute)
NO_ROLE = "none"


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


async def change_role(state: ConsoleState, actor: Actor, spec: EnvironmentSpec, user_name: str, role: str) -> None:
    """Grant ``role`` (or remove access, ``none``) in ``spec``, committed before the outcome is recorded."""
    if user_name == actor.user_name:
        raise BadRequest("You cannot change your own role; ask another admin.", code="own_role")
    if role != NO_ROLE and role not in ROLE_NAMES:
        raise BadRequest(f"unknown role {role!r}", code="unknown_role")
    action = ActionCall(CHANGE_ROLE, spec.name, target=user_name, params={"role": role})

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
@audited(CHANGE_ROLE.name, target_field="user", prompt=asks_confirmation(CHANGE_ROLE))
async def set_role(request: Request, state: StateDep, db: DbDep, access: EnvReaderDep) -> Response:
    login, spec = access
    form = await read_form(request)
    role = form.get("role", "")
    guard_mutation(request, login, spec, form, CHANGE_ROLE)
    user_name = form.get("user", "")
    action = ActionCall(CHANGE_ROLE, spec.name, target=user_name, params={"role": role})
    confirm = await confirmation_gate(request, state, db, login, spec, action, form)
    if confirm is not None:
        return confirm
    await change_role(state, web_actor(request, login), spec, user_name, role)
    return await redirect_with_notice(request, db, login, f"/{spec.name}/users", "role_changed", environment=spec.name)
