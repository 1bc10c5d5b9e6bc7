"""Every state-changing console route is audited by its route class, not by remembering to.

A router built with ``route_class=AuditedRoute`` wraps each POST/PUT/PATCH/DELETE
endpoint: the attempt is committed before the endpoint runs (so before anything is
sent to Raptor), the outcome after, from the response status or the exception. A
mutating route without an ``@audited("...")`` declaration refuses to be built, and
``tests/console/audit/test_route_audit.py`` walks the app's route table so a route
added on a plain router fails the build too.

Endpoints refine the outcome through ``request.state.audit`` (an
:class:`~raxx.console.audit.events.ActionScope`): ``act.set(...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from raxx.common.asgi import (
    FORM_MEDIA_TYPES,
    bearer_token,
    media_type,
    reads_as_json,
    request_id_of,
    single_header,
)
from raxx.common.errors import BadRequest, RaxxError, field_errors
from raxx.common.logging import log_event
from raxx.console.audit.events import AuditContext
from raxx.console.audit.service import PROMPT_SUFFIX, AuditTrail
from raxx.console.auth import repository as auth_repository
from raxx.console.auth.service import hash_token
from raxx.console.security import session_cookie_name
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.audit")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


#: Whether a request will only show a confirmation prompt: (state, environment, form fields).
PromptRule = Callable[[ConsoleState, str | None, dict[str, Any]], bool]
#: The environment a request acts in when no one field names it as it stands (a default applies,
#: or the database knows): (state, request, form fields) -> its name, or None for console-wide.
EnvironmentRule = Callable[[ConsoleState, Request, dict[str, Any]], Awaitable[str | None]]
#: The target as the trail names it, from the text of the request's target field.
TargetRule = Callable[[str], str]


@dataclass(frozen=True)
class AuditSpec:
    """How a route is audited: its action, and where its environment and target come from.

    ``env_field`` and ``target_field`` name a path parameter or a form/JSON field; ``env_rule``,
    when given, finds the environment instead of ``env_field`` (an unregistered answer is None).
    ``prompt`` says, from the request alone, whether it will only ask for a confirmation
    (nothing acted on): such a request is recorded as ``<action>.prompt``, never as the
    action with outcome ``ok``. The endpoint decides with the same rule, and
    ``actions.perform`` refuses to act inside a prompt's record.
    """

    action: str
    env_field: str | None = "env"
    target_field: str | None = None
    #: The target as the trail names it, from the text the request gave (an order id in any
    #: form UUIDs are written becomes the one text a search for that order finds).
    target_rule: TargetRule | None = None
    prompt: PromptRule | None = None
    #: A form field naming the actor when no session does (the sign-in form's user name):
    #: the name *tried*, until the endpoint identifies the real user (``act.identify``).
    actor_field: str | None = None
    env_rule: EnvironmentRule | None = None


def audited(
    action: str,
    *,
    env_field: str | None = "env",
    target_field: str | None = None,
    target_rule: TargetRule | None = None,
    prompt: PromptRule | None = None,
    actor_field: str | None = None,
    env_rule: EnvironmentRule | None = None,
) -> Callable[[F], F]:
    """Declare the audit action of an endpoint (read by :class:`AuditedRoute`)."""

    def mark(endpoint: F) -> F:
        spec = AuditSpec(action, env_field, target_field, target_rule, prompt, actor_field, env_rule)
        endpoint.__raxx_audit__ = spec  # type: ignore[attr-defined]
        return endpoint

    return mark


def audit_spec_of(endpoint: Callable[..., Any]) -> AuditSpec | None:
    spec = getattr(endpoint, "__raxx_audit__", None)
    return spec if isinstance(spec, AuditSpec) else None


class MissingAuditDeclaration(TypeError):
    """A state-changing route was declared without ``@audited(...)``."""


class AuditedRoute(APIRoute):
    """An ``APIRoute`` that writes an attempt before and an outcome after every mutating call."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Set before APIRoute.__init__, which builds the handler through get_route_handler().
        self.audit_spec = audit_spec_of(endpoint)
        super().__init__(path, endpoint, **kwargs)
        methods = self.methods or set()
        if self.audit_spec is None and methods & MUTATING_METHODS:
            raise MissingAuditDeclaration(f"{sorted(methods)} {path} changes state but is not @audited(...)")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        spec = self.audit_spec
        if spec is None:
            return handler

        async def audited_handler(request: Request) -> Response:
            state: ConsoleState = request.app.state.console
            trail: AuditTrail = state.audit
            body = await read_request_fields(request)
            fields = body.fields
            environment = await _environment(spec, request, fields, state)
            ctx = await audit_context(request, state, environment=environment)
            if spec.actor_field and ctx.actor_name is None:
                ctx = replace(ctx, actor_name=_field(spec.actor_field, request, fields))
            prompting = spec.prompt is not None and spec.prompt(state, environment, fields)
            action = spec.action + PROMPT_SUFFIX if prompting else spec.action
            async with trail.action(ctx, action, target=_target(spec, request, fields), params=fields) as act:
                request.state.audit = act
                if body.refusal is not None:
                    raise body.refusal  # recorded as this action's outcome; the endpoint never runs
                response = await handler(request)
                act.set_from_status(response.status_code)
                return response

        return audited_handler


async def audit_context(request: Request, state: ConsoleState, *, environment: str | None) -> AuditContext:
    """Who acts (from the session cookie, if any), from which page, in which environment, and
    which environment their session had selected at that moment."""
    token = request.cookies.get(session_cookie_name(True)) or request.cookies.get(session_cookie_name(False))
    session_env = None
    if request.url.path.startswith("/api/"):
        token = None  # the JSON API never acts on a session cookie: its actor is the bearer token's user
        actor_id, actor_name = await _api_token_actor(state, request)
    else:
        actor_id, actor_name, session_env = await _session_actor(state, token)
    return AuditContext(
        actor_id=actor_id,
        actor_name=actor_name,
        session_id=token,
        environment=environment,
        request_id=request_id_of(request),
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        session_env=session_env if session_env in state.registry else None,
        origin=origin_page(request),
    )


async def _session_actor(state: ConsoleState, token: str | None) -> tuple[Any, str | None, str | None]:
    """The user a session cookie claims and the environment the session has selected *now*,
    read-only (the route itself decides whether the session is valid).

    Read on every audited request, never remembered: another tab may have switched the
    session's environment a moment ago, and that is what the record must say.
    """
    if not token or len(token) > 128:
        return None, None, None
    async with state.sessions() as db:
        found = await auth_repository.session_actor(db, hash_token(token))
        await db.rollback()
    return found if found else (None, None, None)


def origin_page(request: Request) -> str | None:
    """The console page a request came from: the path of its same-origin ``Referer``.

    The console's ``Referrer-Policy: same-origin`` sends it on every form post and
    fetch within the console and never to other sites; a referrer from another origin
    (or none, or one that does not parse) is no console page, so None.
    """
    referer = request.headers.get("referer")
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:
        return None
    if parts.netloc and parts.netloc != request.headers.get("host", request.url.netloc):
        return None
    return parts.path or "/"


async def _api_token_actor(state: ConsoleState, request: Request) -> tuple[Any, str | None]:
    """The user a personal API token claims (``Authorization: Bearer rxc_...``), if it is valid.

    Best effort like the session lookup: the route itself refuses a bad token (401), and the
    outcome says so.
    """
    try:
        raw = bearer_token(single_header(request, "authorization"))
        if raw is None:
            return None, None
        owner = await state.api_tokens.verify(raw)
    except RaxxError:
        return None, None
    return owner.user_id, owner.user_name


@dataclass(frozen=True)
class RequestFields:
    """A mutating request's form or JSON fields as the audit records them, and why the request
    must be refused before its endpoint runs (None: it may run)."""

    fields: dict[str, Any]
    refusal: RaxxError | None = None


async def read_request_fields(request: Request) -> RequestFields:
    """Form or JSON fields of the request, as audit params (secrets are redacted by the trail).

    The media type is compared as HTTP says (RFC 9110: case-insensitive, parameters aside),
    as the endpoints' parsers do, so what the record says is what the endpoint reads. A form
    that names a field twice is refused (a page's forms name each once, and a parser keeps
    one of the two silently: ``environment=prod&environment=staging``); a form the parser
    refuses (too large, too many fields) is refused in the record.
    """
    media = media_type(request)
    if media in FORM_MEDIA_TYPES:
        try:
            form = await request.form()
        except StarletteHTTPException as exc:
            return RequestFields({}, BadRequest(str(exc.detail), code="unreadable_form"))
        return _form_fields(form.multi_items())
    if reads_as_json(media):
        try:
            body = orjson.loads(await request.body() or b"null")
        except orjson.JSONDecodeError:
            return RequestFields({})  # the endpoint refuses it (invalid_json), recorded as the outcome
        return RequestFields(body if isinstance(body, dict) else {"body": body})
    return RequestFields({})


def _form_fields(items: list[tuple[str, str | UploadFile]]) -> RequestFields:
    fields: dict[str, Any] = {}
    repeated: set[str] = set()
    for name, value in items:
        text = value.filename if isinstance(value, UploadFile) else value
        if name in fields:
            repeated.add(name)
            fields[name] = [*(fields[name] if isinstance(fields[name], list) else [fields[name]]), text]
        else:
            fields[name] = text
    if not repeated:
        return RequestFields(fields)
    # Recorded with every value sent, so the record shows what the form claimed.
    refusal = field_errors({name: "given more than once; a form names each field once" for name in sorted(repeated)})
    return RequestFields(fields, refusal)


def _field(name: str | None, request: Request, fields: dict[str, Any]) -> str | None:
    if name is None:
        return None
    value = request.path_params.get(name, fields.get(name))
    return None if value is None else str(value)


def _target(spec: AuditSpec, request: Request, fields: dict[str, Any]) -> str | None:
    target = _field(spec.target_field, request, fields)
    return target if target is None or spec.target_rule is None else spec.target_rule(target)


async def _environment(spec: AuditSpec, request: Request, fields: dict[str, Any], state: ConsoleState) -> str | None:
    """The environment acted on, only if it is a registered one (an unknown name stays in params)."""
    if spec.env_rule is not None:
        value = await spec.env_rule(state, request, fields)
    else:
        value = _field(spec.env_field, request, fields)
    return value if value is not None and value in state.registry else None


async def record_refusal(request: Request, code: str, detail: object, status: int) -> None:
    """Audit a refusal that is not already an action's outcome: a permission denial on a
    page, or a backend that says it is another environment (identity mismatch).

    Best effort: the request is refused either way, so an audit failure here is logged,
    never turned into a different error page.
    """
    is_mismatch = code == "backend_misconfigured"
    if not is_mismatch and getattr(request.state, "audit", None) is not None:
        return  # the mutating route's outcome already says "denied"
    state: ConsoleState = request.app.state.console
    segments = request.url.path.strip("/").split("/")
    # /{env}/... for pages, /api/{env}/... for the JSON API
    candidate = segments[1] if segments[0] == "api" and len(segments) > 1 else segments[0]
    environment = candidate if candidate in state.registry else None
    try:
        ctx = await audit_context(request, state, environment=environment)
        await state.audit.record(
            ctx,
            "identity.mismatch" if is_mismatch else "access.denied",
            outcome="failed" if is_mismatch else "denied",
            target=request.url.path,
            http_status=status,
            error=f"{code}: {detail}",
            params={"method": request.method},
        )
    except Exception as exc:  # the refusal stands; the log says the audit write failed
        log_event(log, "audit.refusal.unrecorded", level=logging.ERROR, code=code, error=type(exc).__name__)
