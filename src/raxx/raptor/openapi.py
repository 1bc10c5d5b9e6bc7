"""Declared error responses, so the OpenAPI document lists every code an endpoint returns;
``route``, the one way an authenticated endpoint declares itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi.types import DecoratedCallable

from raxx.common.contracts.service import ErrorBody

_DESCRIPTIONS = {
    400: "the body is not JSON: bad syntax, not UTF-8, nested too deep (`invalid_json`)",
    401: "no token, a malformed, unknown or revoked token (`invalid_token`), or a token issued for another "
    "environment (`wrong_environment`)",
    403: "the token lacks the scope this operation needs (`insufficient_scope`)",
    404: "not found",
    409: "conflict with the current state",
    413: "the body is larger than `RAPTOR_MAX_BODY_BYTES` (`body_too_large`); refused before it is read",
    415: "the body is not sent as JSON (`unsupported_media_type`)",
    422: "validation error, or a query parameter the operation does not take: `detail` lists each offending field",
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
#: What a route that reads a JSON body can answer besides: a body that is not JSON is a 400,
#: one over the limit a 413, one not sent as JSON a 415 (``raxx.raptor.intake``).
BODY_ERRORS = (400, *AUTH_ERRORS, 413, 415)


def route(
    verb: Callable[..., Callable[[DecoratedCallable], DecoratedCallable]],
    path: str,
    summary: str,
    *codes: int,
    body: bool = False,
    descriptions: Mapping[str, str] | None = None,
    **options: Any,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``verb`` (``router.get``, ``router.post``...) for an authenticated endpoint: it answers
    ``AUTH_ERRORS`` (``BODY_ERRORS`` when it reads a JSON ``body``) and ``codes``, described as
    ``error_responses`` does. Its response model is its return annotation, unless ``options``
    (passed on to ``verb``) name another, as an endpoint returning a ``Response`` must."""
    errors = BODY_ERRORS if body else AUTH_ERRORS
    return verb(path, summary=summary, responses=error_responses(*errors, *codes, **(descriptions or {})), **options)
