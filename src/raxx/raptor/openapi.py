"""Declared error responses, so the OpenAPI document lists every code an endpoint returns."""

from __future__ import annotations

from typing import Any

from raxx.common.contracts.service import ErrorBody

_DESCRIPTIONS = {
    400: "the body could not be read as JSON (`http_error`)",
    401: "no token, a malformed, unknown or revoked token (`invalid_token`), or a token issued for another "
    "environment (`wrong_environment`)",
    403: "the token lacks the scope this operation needs (`insufficient_scope`)",
    404: "not found",
    409: "conflict with the current state",
    422: "validation error: `detail` lists each offending field",
    503: "the broker could not be reached; nothing was applied",
}


def error_responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code renders ``{"error", "detail"}``."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description = descriptions.get(f"d{code}", _DESCRIPTIONS[code])
        out[code] = {"model": ErrorBody, "description": description}
    return out


#: What every authenticated route can answer besides its own codes.
AUTH_ERRORS = (401, 403, 422)
#: What a route that reads a JSON body can answer besides: an unreadable body is a 400.
BODY_ERRORS = (400, *AUTH_ERRORS)
