"""What an exception from an audited action means for its outcome.

The distinction that matters is *did Raptor possibly act?* A refused connection
means nothing was sent (``failed``); a timeout or a dropped connection after the
request was sent means it may have happened (``unknown``, which the reconciler
later resolves by asking Raptor about the request id).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

from raxx.common.errors import RaxxError

#: Refusal codes that mean "the request was sent and no answer came back" (the console's
#: Raptor client raises ``backend_timeout``): Raptor may have acted.
AMBIGUOUS_CODES = frozenset({"backend_timeout"})


@dataclass(frozen=True)
class Verdict:
    outcome: str
    http_status: int | None
    error: str


def classify_exception(exc: BaseException) -> Verdict:
    """The outcome an exception stands for.

    An exception may decide for itself with an ``audit_outcome`` attribute (the
    console's Raptor client sets it on errors whose effect is ambiguous).
    """
    declared = getattr(exc, "audit_outcome", None)
    status = _status_of(exc)
    error = _describe(exc)
    if declared in ("ok", "denied", "failed", "unknown"):
        return Verdict(declared, status, error)
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
        return Verdict("unknown", status, "interrupted before the outcome was known")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol):
        return Verdict("failed", status, error)
    if isinstance(exc, httpx.TransportError) or getattr(exc, "code", None) in AMBIGUOUS_CODES:
        return Verdict("unknown", status, error)
    if status in (401, 403):
        return Verdict("denied", status, error)
    return Verdict("failed", status, error)


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, RaxxError):
        return exc.status_code
    # Imported here: the audit CLI (``raxx audit verify``) loads this module and would
    # otherwise pay for importing FastAPI (~0.4 s) on every run.
    from fastapi.exceptions import RequestValidationError

    if isinstance(exc, RequestValidationError):
        return 422
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RaxxError):
        return f"{exc.code}: {_fields_text(exc.detail) if _is_field_list(exc.detail) else exc.detail}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url.host}"
    from fastapi.exceptions import RequestValidationError  # lazily, as in _status_of

    if isinstance(exc, RequestValidationError):
        # What the operator was told (the error page's field list), not the exception's repr.
        from raxx.common.asgi import validation_details

        return f"validation_error: {_fields_text(validation_details(exc))}"
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _is_field_list(detail: object) -> TypeGuard[list[dict[str, Any]]]:
    """``detail`` of a 422 (:func:`raxx.common.errors.field_errors`): a list of {field, message}."""
    return isinstance(detail, list) and all(isinstance(d, dict) and "message" in d for d in detail)


def _fields_text(details: list[dict[str, Any]]) -> str:
    """``quantity: must be positive; colour: unknown field``, as the record's error words."""
    return "; ".join(f"{d.get('field') or 'body'}: {d['message']}" for d in details)
