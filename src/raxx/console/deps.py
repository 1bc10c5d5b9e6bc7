"""Named dependencies: ``StateDep``, ``DbDep``, ``LoginDep``, ``EnvDep``, ``PageContext``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypedDict

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actions import Action
from raxx.common.asgi import bearer_token, request_id_of, single_header
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.common.storable import text_problem
from raxx.console.actions import Actor, authorize
from raxx.console.apitoken.service import InvalidApiToken
from raxx.console.audit.events import ActionScope
from raxx.console.auth.service import Login, load_login
from raxx.console.security import session_cookie_name
from raxx.console.state import ConsoleState

FRAGMENT_HEADER = "x-raxx-fragment"


def wants_fragment(request: Request, fragment_id: str) -> bool:
    """The live refresher (console.js) asks for one fragment of the page it shows by its id."""
    return request.headers.get(FRAGMENT_HEADER) == fragment_id


class LoginRequired(RaxxError):
    status_code = 401
    code = "login_required"


async def get_state(request: Request) -> ConsoleState:
    # async on purpose, like every dependency here: FastAPI runs a sync one in a worker thread.
    return request.app.state.console  # type: ignore[no-any-return]


StateDep = Annotated[ConsoleState, Depends(get_state)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit on success, roll back on any error."""
    async with (await get_state(request)).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# Function scope: the commit runs before the response is sent. FastAPI's default (request
# scope) runs it after, so a client could act on a "done" whose transaction was not yet (or
# never) committed: e.g. follow the login redirect before its session row existed.
DbDep = Annotated[AsyncSession, Depends(get_db, scope="function")]


def is_secure(request: Request, state: ConsoleState) -> bool:
    if state.settings.cookie_secure is not None:
        return state.settings.cookie_secure
    return request.url.scheme == "https"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    """The browser's name as a session keeps it: one line (``raxx.common.storable``), else
    not kept at all, as a malformed request id is not (a header is no field to refuse)."""
    agent = request.headers.get("user-agent", "")[:256]
    return "" if text_problem(agent, one_line=True) else agent


async def optional_login(request: Request, state: StateDep, db: DbDep) -> Login | None:
    token = request.cookies.get(session_cookie_name(is_secure(request, state)))
    if not token or len(token) > 128:
        return None
    # The orders table's own refresh (static/console.js) is not the operator's activity.
    login = await load_login(db, token, policy=state.login_policy, activity=FRAGMENT_HEADER not in request.headers)
    if login is None:
        # An idle session was just revoked; that must stand although this request now
        # fails with login_required (which rolls the request's transaction back).
        await db.commit()
    request.state.login = login
    return login


OptionalLoginDep = Annotated[Login | None, Depends(optional_login)]


async def require_login(login: OptionalLoginDep) -> Login:
    if login is None:
        raise LoginRequired("please sign in")
    return login


LoginDep = Annotated[Login, Depends(require_login)]


async def page_environment(env: str, request: Request, state: StateDep) -> EnvironmentSpec:
    """The environment named in the URL path; unknown names are a 404 with a banner."""
    spec = state.registry[env]
    request.state.page_env = spec
    return spec


EnvDep = Annotated[EnvironmentSpec, Depends(page_environment)]


def web_actor(request: Request, login: Login) -> Actor:
    """The signed-in operator as the actor of this request (kept on the request for error pages)."""
    actor = Actor(
        user_id=login.user_id,
        user_name=login.user_name,
        roles=login.roles,
        channel="web",
        session_hash=login.session_hash,
        auth_method=login.auth_method,
        auth_time=login.auth_time,
        **_request_facts(request),
    )
    request.state.actor = actor
    return actor


class _RequestFacts(TypedDict):
    request_id: str
    client_ip: str
    user_agent: str
    audit_scope: ActionScope | None


def _request_facts(request: Request) -> _RequestFacts:
    """What the request itself says of whoever acts through it, web or API: its id, the
    client, and the audit record its route opened (None outside an audited route)."""
    return {
        "request_id": request_id_of(request),
        "client_ip": client_ip(request),
        "user_agent": user_agent(request),
        "audit_scope": getattr(request.state, "audit", None),
    }


async def require_web_actor(request: Request, login: LoginDep) -> Actor:
    return web_actor(request, login)


WebActorDep = Annotated[Actor, Depends(require_web_actor)]


def require_capability(login: Login, environment: str, capability: str, *, action: Action | None = None) -> None:
    """Raise ``PermissionDenied`` (403, recorded by the error handler) unless the login may."""
    authorize(
        Actor(user_id=login.user_id, user_name=login.user_name, roles=login.roles, request_id="", channel="web"),
        environment,
        capability,
        action=action,
    )


async def env_reader(login: LoginDep, spec: EnvDep) -> tuple[Login, EnvironmentSpec]:
    """A page in an environment: the operator must hold a role there."""
    require_capability(login, spec.name, "read")
    return login, spec


EnvReaderDep = Annotated[tuple[Login, EnvironmentSpec], Depends(env_reader)]


# -- the JSON API: personal bearer tokens, never cookies ----------------------------


async def api_actor(request: Request, state: StateDep) -> Actor:
    """The owner of the request's ``Authorization: Bearer rxc_...`` token.

    Cookies are never consulted on ``/api``: a browser cannot be tricked into calling it
    with the operator's session, so the API needs no CSRF token.
    """
    return await authenticate_api(request, state)


async def authenticate_api(request: Request, state: ConsoleState) -> Actor:
    """:func:`api_actor` as a plain call, for the read endpoints that skip dependency resolution."""
    raw = bearer_token(single_header(request, "authorization"))
    if raw is None:
        raise InvalidApiToken("an Authorization: Bearer rxc_... token is required", code="unauthorized")
    owner = await state.api_tokens.verify(raw)
    actor = Actor(
        user_id=owner.user_id,
        user_name=owner.user_name,
        roles=owner.roles,
        channel="api",
        token_id=owner.token_id,
        token_environments=owner.environments,
        **_request_facts(request),
    )
    request.state.actor = actor
    return actor


ApiActorDep = Annotated[Actor, Depends(api_actor)]


async def api_env_reader(request: Request, env: str) -> tuple[Actor, EnvironmentSpec, ConsoleState]:
    """The caller of an ``/api/{env}/...`` read, allowed to read there; no FastAPI dependencies.

    The JSON API's reads are its hot path (scripts poll them): resolving a chain of
    dependencies cost more CPU per request than the proxying itself, measured with
    ``bench/console_proxy.py``. So the read endpoints call this one function instead.
    """
    state: ConsoleState = request.app.state.console
    spec = state.registry[env]
    request.state.page_env = spec
    actor = await authenticate_api(request, state)
    authorize(actor, spec.name, "read")
    return actor, spec, state
