"""Server-side rendering: one Jinja2 environment (autoescaped) and the page context.

Every page gets the banner for the environment it was rendered for, built from what
that environment's backend says about itself, not only from configuration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from raxx.common.asgi import request_id_of
from raxx.common.clock import utcnow
from raxx.common.contracts.trading import ORDER_STATUSES, plain_decimal
from raxx.common.environments import EnvironmentSpec
from raxx.console.auth.roles import can
from raxx.console.auth.service import Login
from raxx.console.state import ConsoleState

TEMPLATES_DIR = Path(__file__).parent / "templates"


def build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.autoescape = True
    # Templates ship inside the package: no stat() of every template file on every render.
    templates.env.auto_reload = False
    templates.env.globals["can"] = can
    templates.env.globals["order_statuses"] = ORDER_STATUSES  # the status filter's choices
    templates.env.filters["plain"] = plain_decimal
    return templates


#: Pages about every environment at once (``/compare``, ``/releases``): their banner's
#: heading and the sentence that says what the page can (not) do.
CROSS_ENV_PAGES = {
    "compare": ("COMPARE", "read-only: every environment side by side; nothing on this page acts anywhere"),
    "releases": (
        "RELEASES",
        "read-only, from the release gate's ledger; deploys and approvals happen through raxx gate",
    ),
    "alerts": ("ALERTS", "read-only: the last alerts of every environment and what became of each delivery"),
}


def cross_env_banner(state: ConsoleState, page: str) -> dict[str, Any]:
    """The banner of a page about every environment: neutral (no environment's color), its
    own heading, then every environment's name in that environment's color."""
    heading, detail = CROSS_ENV_PAGES[page]
    return {
        "env": page,
        "label": f"{heading}: " + " | ".join(s.label for s in state.registry.values()),
        "heading": heading,
        "detail": detail,
        "title": f"[{heading}]",
        "protected": False,
        "status": None,
        "parts": [{"name": s.name, "label": s.label} for s in state.registry.values()],
    }


#: How much of an unknown environment's name the banner repeats.
UNKNOWN_NAME_SHOWN = 48
#: A page's section that a "did you mean" link may keep (``orders``, ``positions``, ...).
_SECTION_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def unknown_banner(state: ConsoleState, name: str, path: str) -> dict[str, Any]:
    """The banner of a page under ``/{name}/`` when ``name`` is no registered environment.

    The name is shown as Python writes it (quoted, control characters escaped; the template
    escapes HTML), cut at :data:`UNKNOWN_NAME_SHOWN` characters. A case variant of a real
    environment (``/PROD/orders``) gets a plain link to the same section there: a GET that
    acts on nothing and replays no form or query.
    """
    shown = name if len(name) <= UNKNOWN_NAME_SHOWN else name[:UNKNOWN_NAME_SHOWN] + "\u2026"
    suggestion = None
    if name.lower() != name and name.lower() in state.registry:
        section = path.strip("/").split("/")[1:2]
        keep = section[0] if section and _SECTION_RE.match(section[0]) else ""
        suggestion = f"/{name.lower()}/{keep}"
    return {
        "env": "unknown",
        "label": f"UNKNOWN ENVIRONMENT {shown!r}",
        "title": "[UNKNOWN ENV]",
        "protected": False,
        "status": None,
        "suggestion": suggestion,
    }


def banner_for(
    state: ConsoleState, spec: EnvironmentSpec | None, unknown_name: str | None = None, path: str = "/"
) -> dict[str, Any]:
    """What the banner shows; ``spec`` None means no environment (login) or an unknown one."""
    if spec is None:
        if unknown_name:
            return unknown_banner(state, unknown_name, path)
        return {
            "env": "none",
            "label": "NO ENVIRONMENT SELECTED",
            "title": "[NO ENV]",
            "protected": False,
            "status": None,
        }
    status = state.clients[spec.name].status
    return {
        "env": spec.name,
        "label": spec.label,
        "title": f"[{spec.name.upper()}]",
        "protected": spec.protected,
        "status": status,
        "identity": status.identity,
    }


async def render(
    request: Request,
    state: ConsoleState,
    template: str,
    *,
    env: EnvironmentSpec | None,
    login: Login | None,
    status_code: int = 200,
    unknown_env: str | None = None,
    cross_env: str | None = None,
    **context: Any,
) -> HTMLResponse:
    if env is not None:
        # A page states the backend's identity (the banner, the overview): it re-asks when the
        # last answer is older than identity_recheck_s (or its proof ended), so a dead or
        # swapped backend is not vouched for from a cache.
        await state.clients[env.name].check_identity(max_age_s=state.settings.identity_recheck_s)
    page_suffix = _page_suffix(request, env)
    ctx: dict[str, Any] = {
        "env": env,
        "banner": cross_env_banner(state, cross_env)
        if cross_env
        else banner_for(state, env, unknown_env, request.scope["path"]),
        "login": login,
        "csrf_token": login.csrf_token if login else "",
        "environments": [
            {
                "name": s.name,
                "label": s.label,
                "allowed": bool(login and s.name in login.roles),
                "protected": s.protected,
            }
            for s in state.registry.values()
        ],
        "page_suffix": page_suffix,
        "release": state.settings.release,
        "request_id": request_id_of(request),
        "now_utc": utcnow().strftime("%H:%M:%S"),
        # Live fragments (data-fragment) ask console.js to refresh them this often (0: off).
        "refresh_s": state.settings.orders_refresh_s,
    }
    ctx.update(context)
    return state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def _page_suffix(request: Request, env: EnvironmentSpec | None) -> str:
    """The section of the current page, to land on the same section after a switch.

    Only the first segment is kept: an order id from staging means nothing in prod.
    """
    if env is None:
        return "/"
    path = request.url.path
    prefix = f"/{env.name}"
    rest = path[len(prefix) :] if path.startswith(prefix) else "/"
    first = rest.strip("/").split("/", 1)[0]
    return f"/{first}" if first else "/"
