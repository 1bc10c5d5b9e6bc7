"""Named dependencies: ``StateDep``, ``DbDep``, ``LoginDep``, ``EnvDep``, ``PageContext``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import Forbidden, RaxxError
from raxx.console.auth.roles import can
from raxx.console.auth.service import Login, load_login
from raxx.console.security import session_cookie_name
from raxx.console.state import ConsoleState


class LoginRequired(RaxxError):
    status_code = 401
    code = "login_required"


def get_state(request: Request) -> ConsoleState:
    return request.app.state.console  # type: ignore[no-any-return]


StateDep = Annotated[ConsoleState, Depends(get_state)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit on success, roll back on any error."""
    async with get_state(request).sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


DbDep = Annotated[AsyncSession, Depends(get_db)]


def is_secure(request: Request, state: ConsoleState) -> bool:
    if state.settings.cookie_secure is not None:
        return state.settings.cookie_secure
    return request.url.scheme == "https"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:256]


async def optional_login(request: Request, state: StateDep, db: DbDep) -> Login | None:
    token = request.cookies.get(session_cookie_name(is_secure(request, state)))
    if not token or len(token) > 128:
        return None
    login = await load_login(db, token, policy=state.login_policy)
    request.state.login = login
    return login


OptionalLoginDep = Annotated[Login | None, Depends(optional_login)]


async def require_login(login: OptionalLoginDep) -> Login:
    if login is None:
        raise LoginRequired("please sign in")
    return login


LoginDep = Annotated[Login, Depends(require_login)]


def page_environment(env: str, request: Request, state: StateDep) -> EnvironmentSpec:
    """The environment named in the URL path; unknown names are a 404 with a banner."""
    spec = state.registry[env]
    request.state.page_env = spec
    return spec


EnvDep = Annotated[EnvironmentSpec, Depends(page_environment)]


def require_capability(login: Login, environment: str, capability: str) -> None:
    if not can(login.roles, environment, capability):
        role = login.roles.get(environment)
        held = f"your role there is {role}" if role else "you hold no role there"
        raise Forbidden(
            f"{login.user_name} may not {capability} in {environment} ({held})",
            code="permission_denied",
            extra={"environment": environment, "capability": capability},
        )


async def env_reader(login: LoginDep, spec: EnvDep) -> tuple[Login, EnvironmentSpec]:
    """A page in an environment: the operator must hold a role there."""
    require_capability(login, spec.name, "read")
    return login, spec


EnvReaderDep = Annotated[tuple[Login, EnvironmentSpec], Depends(env_reader)]
