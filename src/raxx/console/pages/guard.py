"""What every mutating page does before it may act, in this order:

0. every field of the form is text the database can store (:func:`read_form`: 422, recorded),
   named once (a repeated field is refused before the page runs, inside its audit record:
   :func:`raxx.console.audit.routes.read_request_fields`);
1. the CSRF token matches the session (403, recorded);
2. the form's environment is the URL's environment (400, recorded, nothing sent);
3. the operator's role in *that* environment allows the action (403, recorded), and the URL
   carries no query string the action would ignore (400 ``unexpected_query``, recorded:
   :func:`raxx.console.actions.refuse_query`, the API's rule too);
4. the input parses (the form comes back with fields marked, nothing sent): the page's job;
5. in a protected environment, a recent sign-in when single sign-on is configured (older
   sessions go to the identity provider and come back to this action's confirmation
   page), then a typed confirmation bound to this exact action (see :func:`confirmation_gate`);
6. then :func:`raxx.console.actions.perform` records the attempt and acts.

A handler is declared with :func:`audited_action` (the action's table entry), passes 1 to 3
with :func:`begin_mutation` and goes on (5, 6, the redirect) with the :class:`PageMutation`
it returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actions import ACTIONS, Action
from raxx.common.clock import utcnow
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import BadRequest, Forbidden, RaxxError, field_errors
from raxx.common.storable import field_problems
from raxx.console.actions import ActionCall, Actor, refuse_query
from raxx.console.audit.events import Outcome
from raxx.console.audit.routes import EnvironmentRule, PromptRule, TargetRule, audited
from raxx.console.audit.service import PROMPT_SUFFIX
from raxx.console.auth import sso
from raxx.console.auth.service import Login
from raxx.console.confirmation import service as confirmations
from raxx.console.deps import require_capability, web_actor
from raxx.console.operations.service import confirmable
from raxx.console.pages.forms import check_csrf, check_form_environment
from raxx.console.pages.notices import redirect_with_notice
from raxx.console.pages.provider import provider_redirect, recent_auth_age
from raxx.console.raptor.errors import BackendMisconfigured, BackendNotConfigured, BackendUnavailable
from raxx.console.raptor.refusals import RaptorRefusal
from raxx.console.state import ConsoleState
from raxx.console.templating import render

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
#: Failures of a read that leave the page standing, with an error panel instead of the data.
BACKEND_FAILURES = (BackendUnavailable, BackendMisconfigured, BackendNotConfigured, RaptorRefusal)
CONFIRM_FIELDS = ("confirm_token", "typed_env", "typed_target")


async def read_form(request: Request) -> dict[str, str]:
    """The form's text fields; a 422 naming each field whose text could not be stored (NUL:
    every mutating page reads its form here, so none of its fields reaches a statement, the
    ledger or a saved step-up form with it; the page's own parser judges the rest)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if problems := field_problems(fields):
        raise field_errors(problems)
    return fields


def guard_mutation(request: Request, login: Login, spec: EnvironmentSpec, form: dict[str, str], action: Action) -> None:
    """Steps 1 to 3 above; raises the typed refusal (the error handler records it)."""
    check_csrf(request, login, form.get("csrf_token"))
    check_form_environment(spec.name, form.get("environment"))
    require_capability(login, spec.name, action.capability, action=action)
    refuse_query(request.url.query, action)


@dataclass(frozen=True)
class PageMutation:
    """A page's mutation once steps 1 to 3 passed (:func:`begin_mutation`): its form, and the
    way on: step 5 (:meth:`confirm`), the actor for step 6, and post/redirect/get (:meth:`see`)."""

    request: Request
    state: ConsoleState
    db: AsyncSession
    login: Login
    spec: EnvironmentSpec
    form: dict[str, str]

    @property
    def actor(self) -> Actor:
        return web_actor(self.request, self.login)

    async def confirm(self, call: ActionCall) -> Response | None:
        """:func:`confirmation_gate` for ``call``: None to go ahead, else the page to answer instead."""
        return await confirmation_gate(self.request, self.state, self.db, self.login, self.spec, call, self.form)

    async def see(self, path: str, done: str, **counts: int) -> RedirectResponse:
        """To ``path`` of the *same* environment, with a one-time notice of what was done."""
        where = f"/{self.spec.name}{path}"
        return await redirect_with_notice(
            self.request, self.db, self.login, where, done, environment=self.spec.name, **counts
        )


async def begin_mutation(
    request: Request, state: ConsoleState, db: AsyncSession, access: tuple[Login, EnvironmentSpec], action: Action
) -> PageMutation:
    """Read the form and pass steps 1 to 3 for ``action`` (or raise the typed refusal)."""
    login, spec = access
    form = await read_form(request)
    guard_mutation(request, login, spec, form, action)
    return PageMutation(request, state, db, login, spec, form)


def audited_action(
    action: Action,
    *,
    target_field: str | None = None,
    target_rule: TargetRule | None = None,
    env_field: str | None = "env",
    env_rule: EnvironmentRule | None = None,
) -> Callable[[F], F]:
    """``@audited`` for a page that performs ``action``: its table name, and for an action that
    has a confirmation page, the prompt rule (:func:`asks_confirmation`)."""
    prompt = asks_confirmation(action) if action.confirmable else None
    return audited(
        action.name,
        env_field=env_field,
        target_field=target_field,
        target_rule=target_rule,
        prompt=prompt,
        env_rule=env_rule,
    )


async def backend_read(work: Awaitable[T]) -> tuple[T | None, RaxxError | None]:
    """Run a read against Raptor; a backend failure becomes an error panel, not an error page."""
    try:
        return await work, None
    except BACKEND_FAILURES as exc:
        return None, exc


def panel_status(error: RaxxError | None, ok: int = 200) -> int:
    """The page's HTTP status: the backend's failure when the main data could not be read."""
    return error.status_code if error is not None else ok


def asks_confirmation(action: Action) -> PromptRule:
    """The rule :func:`confirmation_gate` follows, as the route sees the request: a
    protected environment's listed action without a confirmation token only gets the
    prompt. The route records such a request as ``<action>.prompt`` (``@audited(prompt=...)``)."""

    def rule(state: ConsoleState, environment: str | None, fields: dict[str, Any]) -> bool:
        spec = state.registry.get(environment or "", None)
        return spec is not None and spec.needs_confirmation(action) and not fields.get("confirm_token")

    return rule


async def confirmation_gate(
    request: Request,
    state: ConsoleState,
    db: AsyncSession,
    login: Login,
    spec: EnvironmentSpec,
    action: ActionCall,
    form: dict[str, str],
) -> Response | None:
    """None: go ahead. Otherwise the page (or redirect) to answer instead of acting.

    Only actions listed in the environment's ``confirm_actions`` (protected environments)
    ask; everything else passes straight through. Before that, any mutation in a
    protected environment needs a recent sign-in (:func:`step_up_gate`).
    """
    step_up = await step_up_gate(request, state, db, login, action, form)
    if step_up is not None:
        return step_up
    if not spec.needs_confirmation(action.action):
        return None
    what = confirmable(action)
    token = form.get("confirm_token", "")
    if not token:
        scope = getattr(request.state, "audit", None)
        if scope is not None and not scope.attempt.action.endswith(PROMPT_SUFFIX):
            # The route's record names the action itself: it must say "prompt" (asks_confirmation).
            raise RuntimeError(f"{scope.attempt.action} asks for a confirmation but its route lacks prompt=")
        token = _issue(state, login, what)
        _note(request, "ok", acted=False, prompted=action.name, confirm_target=action.target)
        return await _confirm_page(request, state, login, spec, action, form, token, errors={}, also=what.also_accepted)
    verified = confirmations.verify(
        state.settings.secret_key, token, what, session_hash=login.session_hash, now=utcnow()
    )
    errors = confirmations.typed_errors(
        what, typed_env=form.get("typed_env", ""), typed_target=form.get("typed_target", "")
    )
    if errors:
        _note(request, "failed", error="the typed confirmation did not match; nothing was sent", acted=False)
        return await _confirm_page(
            request, state, login, spec, action, form, token, errors=errors, status_code=422, also=what.also_accepted
        )
    await confirmations.consume(db, verified, what, now=utcnow())
    return None


class RecentSignInRequired(Forbidden):
    code = "recent_sign_in_required"


async def step_up_gate(
    request: Request, state: ConsoleState, db: AsyncSession, login: Login, action: ActionCall, form: dict[str, str]
) -> Response | None:
    """None: the sign-in is recent enough (or no single sign-on). Otherwise the redirect to
    the identity provider (``max_age``, ``prompt=login``); it comes back to
    ``/login/oidc/resume/...``, which shows this action's confirmation page. Nothing acts."""
    spec = state.registry[action.environment or ""]
    if not spec.protected or state.oidc is None:
        return None
    max_age = recent_auth_age(state)
    if sso.is_recent(login.auth_time, max_age=max_age, now=utcnow()):
        return None
    minutes = f"{state.settings.recent_auth_minutes:g}"
    if login.auth_method != "oidc":  # a break-glass password session: no provider to ask
        raise RecentSignInRequired(
            f"{spec.label} actions need a sign-in within the last {minutes} minutes: "
            "sign out and sign in again. Nothing was done.",
            extra={"environment": spec.name, "action": action.name},
        )
    resume = {
        "action": {
            "name": action.name,
            "environment": action.environment,
            "target": action.target,
            "params": {k: str(v) for k, v in action.params.items()},
        },
        "form": {k: v for k, v in form.items() if k not in ("csrf_token", "confirm_token")},
    }
    flow = await sso.start_flow(
        db, purpose="stepup", session_hash=login.session_hash, next_path=request.url.path, resume=resume
    )
    _note(request, "ok", acted=False, reason=f"a sign-in within {minutes} minutes asked (identity provider)")
    return await provider_redirect(request, state, flow, max_age=int(max_age.total_seconds()))


async def resume_page(
    request: Request,
    state: ConsoleState,
    db: AsyncSession,
    login: Login,
    resume: dict[str, Any],
    *,
    post_to: str,
) -> HTMLResponse:
    """The confirmation page of an action a step-up interrupted, with the form as it was."""
    saved = resume.get("action") or {}
    spec = state.registry[str(saved.get("environment"))]
    known = ACTIONS.get(str(saved.get("name")))
    if known is None:
        raise BadRequest("this interrupted action is not one the console knows")
    action = ActionCall(known, environment=spec.name, target=saved.get("target"), params=saved.get("params") or {})
    require_capability(login, spec.name, known.capability, action=known)  # roles may have changed
    form = {k: str(v) for k, v in (resume.get("form") or {}).items()}
    typed = spec.needs_confirmation(known)
    token = ""
    also: tuple[str, ...] = ()
    if typed:
        what = confirmable(action)
        token, also = _issue(state, login, what), what.also_accepted
    return await _confirm_page(
        request, state, login, spec, action, form, token, errors={}, post_to=post_to, typed_required=typed, also=also
    )


def _issue(state: ConsoleState, login: Login, what: confirmations.Confirmable) -> str:
    """A fresh confirmation token for ``what``, bound to this session."""
    return confirmations.issue(
        state.settings.secret_key,
        what,
        session_hash=login.session_hash,
        now=utcnow(),
        ttl=timedelta(seconds=state.settings.confirm_ttl_s),
    )


def _note(request: Request, outcome: Outcome, *, error: str | None = None, **params: Any) -> None:
    """Say more in the route's audit record than the response status would."""
    scope = getattr(request.state, "audit", None)
    if scope is not None:
        scope.set(outcome, error=error, **params)


def note_refusal(request: Request, refusal: RaxxError) -> None:
    """A Raptor refusal the page shows itself (instead of raising): record it as the outcome."""
    scope = getattr(request.state, "audit", None)
    if scope is not None:
        scope.set(
            "failed",
            http_status=refusal.status_code,
            error=f"{refusal.code}: {refusal.detail}",
            raptor_status=refusal.extra.get("raptor_status"),
        )


async def _confirm_page(
    request: Request,
    state: ConsoleState,
    login: Login,
    spec: EnvironmentSpec,
    action: ActionCall,
    form: dict[str, str],
    token: str,
    *,
    errors: dict[str, str],
    status_code: int = 200,
    post_to: str | None = None,
    typed_required: bool = True,
    also: tuple[str, ...] = (),
) -> HTMLResponse:
    """The confirmation page: the table's phrase for the action, its target, and (``also``)
    the other spellings of the target the operator may type."""
    carried: dict[str, Any] = {
        k: v for k, v in form.items() if k not in CONFIRM_FIELDS and k not in ("csrf_token", "environment")
    }
    return await render(
        request,
        state,
        "confirm_action.html",
        env=spec,
        login=login,
        status_code=status_code,
        action=action,
        also_accepted=also,
        post_to=post_to or request.url.path,
        typed_required=typed_required,
        carried=carried,
        confirm_token=token,
        typed={"typed_env": form.get("typed_env", ""), "typed_target": form.get("typed_target", "")},
        errors=errors,
        ttl_minutes=max(1, int(state.settings.confirm_ttl_s // 60)),
    )
