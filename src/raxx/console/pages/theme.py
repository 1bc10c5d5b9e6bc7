"""Per-environment look: banner colors as a stylesheet (the CSP forbids inline styles) and favicons."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from raxx.console.deps import StateDep
from raxx.console.templating import CROSS_ENV_PAGES

router = APIRouter(tags=["theme"], include_in_schema=False)

NEUTRAL = ("#4b5563", "#ffffff")
#: Pages about every environment: neutral too, but not the grey of "no environment selected".
CROSS_ENV = ("#1e293b", "#ffffff")
_CACHE = "public, max-age=300"


def _colors(state: StateDep, env: str) -> tuple[str, str, str]:
    if env in state.registry:
        spec = state.registry[env]
        return spec.color, spec.text_color, spec.name[:1].upper()
    return NEUTRAL[0], NEUTRAL[1], "?"


def _cross_env_css(state: StateDep) -> str:
    """``/compare`` and ``/releases`` show every environment: one swatch class per
    environment, a banner in no environment's color."""
    bg, fg = CROSS_ENV
    css = [f".env-banner{{background:{bg};color:{fg};}}", f"body{{border-top:6px solid {bg};}}"]
    for spec in state.registry.values():
        css.append(f".env-part-{spec.name}{{background:{spec.color};color:{spec.text_color};}}")
    return "\n".join(css) + "\n"


@router.get("/theme/{env}.css")
async def theme_css(env: str, state: StateDep) -> Response:
    if env in CROSS_ENV_PAGES:  # pages about every environment at once
        return Response(_cross_env_css(state), media_type="text/css", headers={"cache-control": _CACHE})
    bg, fg, _ = _colors(state, env)
    protected = env in state.registry and state.registry[env].protected
    css = (
        f".env-banner{{background:{bg};color:{fg};}}\n"
        f".env-banner code,.env-banner strong{{color:{fg};}}\n"
        f"body{{border-top:6px solid {bg};}}\n"
        f"button.primary,button.danger{{background:{bg};color:{fg};}}\n"
    )
    if protected:
        css += (
            f".env-banner.env-protected{{background-image:repeating-linear-gradient(135deg,{bg} 0 18px,"
            f"rgba(0,0,0,.18) 18px 36px);}}\n"
        )
    return Response(css, media_type="text/css", headers={"cache-control": _CACHE})


@router.get("/favicon/{env}.svg")
async def favicon(env: str, state: StateDep) -> Response:
    bg, fg, letter = _colors(state, env)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="6" fill="{bg}"/>'
        f'<text x="16" y="23" font-size="20" font-family="sans-serif" font-weight="bold" '
        f'text-anchor="middle" fill="{fg}">{letter}</text></svg>'
    )
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": _CACHE})


@router.get("/favicon.ico")
async def favicon_ico(state: StateDep) -> Response:
    return await favicon("none", state)
