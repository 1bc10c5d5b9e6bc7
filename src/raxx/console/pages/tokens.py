"""``/tokens``: an operator's personal API tokens (for scripts and runbooks).

Not an environment page: each token acts in the one environment chosen when it was
made (the registry's default, staging, unless another is chosen; a protected one, prod,
only when its name is typed too), with the role its user holds there at the time of use.
The plaintext is shown once, on the page that created it, and never stored.

The audit trail records a token's creation and its revocation in the token's environment
(``tokens.audit_environment``: console-wide for a token of several), with its id and
environments in the clear; its plaintext never reaches the trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from raxx.common.actions import CREATE_TOKEN, REVOKE_TOKEN
from raxx.common.errors import BadRequest
from raxx.common.storable import StorableText, ascii_digits, text_problem
from raxx.console.actions import ActionCall, ActionScope, Actor, perform
from raxx.console.apitoken import service as tokens
from raxx.console.audit.routes import AuditedRoute
from raxx.console.auth.service import Login
from raxx.console.deps import DbDep, LoginDep, StateDep, web_actor
from raxx.console.pages.forms import check_csrf
from raxx.console.pages.guard import audited_action, read_form
from raxx.console.pages.notices import notice_from, redirect_with_notice
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["tokens"], route_class=AuditedRoute)


async def _page(
    request: Request,
    state: ConsoleState,
    login: Login,
    *,
    created: tokens.NewToken | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with state.sessions() as db, db.begin():
        mine = await tokens.tokens_of(db, login.user_id)
        notice = await notice_from(request, db, login, environment=None)
    return await render(
        request,
        state,
        "tokens.html",
        env=None,
        login=login,
        status_code=status_code,
        tokens=mine,
        created=created,
        errors=errors or {},
        values=values or {"name": "", "expires_days": "90", "environment": state.registry.default, "confirm_env": ""},
        notice=notice,
        labels={spec.name: spec.label for spec in state.registry.values()},
    )


@router.get("/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, state: StateDep, login: LoginDep) -> HTMLResponse:
    return await _page(request, state, login)


def _scope_errors(state: ConsoleState, environment: str, typed: str) -> dict[str, str]:
    """The token's environment must be a known one; a protected one needs its name typed."""
    if environment not in state.registry:
        return {"environment": f"choose one of: {', '.join(state.registry)}"}
    spec = state.registry[environment]
    if spec.protected and typed.lower() != spec.name:
        return {"confirm_env": f"{spec.label} is protected: type {spec.name} to let this token act there"}
    return {}


def _form_environment(state: ConsoleState, fields: Mapping[str, Any]) -> str:
    """The environment a new token's form names (the registry's default when it names none)."""
    return str(fields.get("environment", state.registry.default))


async def _created_in(state: ConsoleState, request: Request, fields: dict[str, Any]) -> str | None:
    """Where a creation is recorded: the new token's environment (``tokens.audit_environment``)."""
    return tokens.audit_environment([_form_environment(state, fields)])


async def _revoked_in(state: ConsoleState, request: Request, fields: dict[str, Any]) -> str | None:
    """Where a revocation is recorded: the revoked token's environment, as its creation was."""
    async with state.sessions() as db:
        scope = await tokens.environments_of(db, str(request.path_params.get("token_id", "")))
        await db.rollback()
    return tokens.audit_environment(scope)


async def create_token(
    state: ConsoleState, actor: Actor, *, name: str, expires_days: int | None, environment: str
) -> tokens.NewToken:
    action = ActionCall(
        CREATE_TOKEN,
        tokens.audit_environment([environment]),
        target=name,
        params={"expires_days": expires_days, "token_environments": [environment]},
    )

    async def work(scope: ActionScope) -> tokens.NewToken:
        async with state.sessions() as db, db.begin():
            created = await tokens.create(
                db,
                user_name=actor.user_name or "",
                name=name,
                expires_days=expires_days,
                environments=[environment],
            )
        scope.set(token_id=created.token_id, token_environments=list(created.environments))
        return created

    return await perform(state.audit, actor, action, work)


async def revoke_token(state: ConsoleState, actor: Actor, token_id: str) -> None:
    async def work(scope: ActionScope) -> None:
        async with state.sessions() as db, db.begin():
            revoked = await tokens.revoke(db, token_id, user_id=actor.user_id)
        state.api_tokens.forget(token_id)
        scope.set(token_id=token_id, token_environments=list(revoked))

    await perform(state.audit, actor, ActionCall(REVOKE_TOKEN, None, target=token_id), work)


@router.post("/tokens", response_class=HTMLResponse)
@audited_action(CREATE_TOKEN, env_rule=_created_in, target_field="name")
async def create(request: Request, state: StateDep, db: DbDep, login: LoginDep) -> Response:
    form = await read_form(request)
    check_csrf(request, login, form.get("csrf_token"))
    values = {
        "name": form.get("name", "").strip(),
        "expires_days": form.get("expires_days", "").strip(),
        "environment": _form_environment(state, form),
        "confirm_env": form.get("confirm_env", "").strip(),
    }
    errors = _scope_errors(state, values["environment"], values["confirm_env"])
    if not values["name"] or len(values["name"]) > 100:
        errors["name"] = "name the token after what will use it (1 to 100 characters)"
    elif problem := text_problem(values["name"], one_line=True):  # listed on one line, and in the audit trail
        errors["name"] = f"the name {problem}"
    days = values["expires_days"]
    if days and not (ascii_digits(days) and 1 <= int(days) <= tokens.MAX_LIFETIME_DAYS):
        errors["expires_days"] = f"a number of days from 1 to {tokens.MAX_LIFETIME_DAYS}, or empty for no expiry"
    if errors:
        return await _page(request, state, login, errors=errors, values=values, status_code=422)
    try:
        created = await create_token(
            state,
            web_actor(request, login),
            name=values["name"],
            expires_days=int(days) if days else None,
            environment=values["environment"],
        )
    except BadRequest as exc:
        return await _page(request, state, login, errors={"name": str(exc.detail)}, values=values, status_code=400)
    return await _page(request, state, login, created=created)


@router.post("/tokens/{token_id}/revoke", response_class=HTMLResponse)
@audited_action(REVOKE_TOKEN, env_rule=_revoked_in, target_field="token_id")
async def revoke(token_id: StorableText, request: Request, state: StateDep, db: DbDep, login: LoginDep) -> Response:
    form = await read_form(request)
    check_csrf(request, login, form.get("csrf_token"))
    await revoke_token(state, web_actor(request, login), token_id)
    return await redirect_with_notice(request, db, login, "/tokens", "token_revoked", environment=None)
