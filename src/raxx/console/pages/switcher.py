"""The environment switcher: a POST that records the session's environment and redirects.

Switching changes only where *new* pages open. Pages already open keep their own
environment in their URL and forms.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from raxx.common.logging import log_event
from raxx.console.audit.routes import AuditedRoute, audited
from raxx.console.auth import service
from raxx.console.deps import DbDep, LoginDep, StateDep, require_capability
from raxx.console.pages.forms import check_csrf
from raxx.console.state import ConsoleState
from raxx.console.templating import render

router = APIRouter(tags=["switcher"], route_class=AuditedRoute)
log = logging.getLogger("raxx.console.switcher")


def _suffix(value: str) -> str:
    """Keep only a section path like ``/health``; anything else lands on the overview."""
    first = value.strip("/").split("/", 1)[0] if value.startswith("/") else ""
    return f"/{first}" if first.replace("-", "").isalnum() else "/"


def _asks_to_confirm(state: ConsoleState, to_env: str | None, fields: dict[str, Any]) -> bool:
    """Entering a protected environment from another page asks first (and only asks)."""
    target = state.registry.get(to_env or "", None)
    from_env = fields.get("from_env") or ""
    return target is not None and target.protected and fields.get("confirmed") != "yes" and from_env != target.name


@router.post("/switch")
@audited("env.switch", env_field="to_env", target_field="to_env", prompt=_asks_to_confirm)
async def switch(
    request: Request,
    state: StateDep,
    db: DbDep,
    login: LoginDep,
    to_env: Annotated[str, Form(max_length=32)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    from_env: Annotated[str, Form(max_length=32)] = "",
    next: Annotated[str, Form(max_length=512)] = "/",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    check_csrf(request, login, csrf_token)
    target = state.registry[to_env]
    require_capability(login, target.name, "read")
    suffix = _suffix(next)
    current = state.registry.get(from_env, None)
    if _asks_to_confirm(state, target.name, {"from_env": from_env, "confirmed": confirmed}):
        request.state.audit.set("ok", switched=False, reason="confirmation asked")  # recorded as env.switch.prompt
        return await render(request, state, "confirm_switch.html", env=current, login=login, target=target, next=suffix)
    previous = await service.switch_environment(db, login, target.name)
    log_event(
        log,
        "console.env.switch.ok",
        user=login.user_name,
        from_env=previous,
        to_env=target.name,
        page_env=from_env or None,
    )
    request.state.audit.set("ok", switched=True, **{"from": previous, "to": target.name})
    return RedirectResponse(f"/{target.name}{suffix}", status_code=303)
