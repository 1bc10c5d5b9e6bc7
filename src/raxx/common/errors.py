"""Typed refusals shared by every deployable.

A refusal carries its HTTP status and its process exit code, and renders one wire
shape, ``{"error": code, "detail": ...}``. An expected refusal is never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RaxxError(Exception):
    """Base of every expected refusal."""

    status_code: int = 400
    code: str = "bad_request"
    exit_code: int = 1
    #: Seconds a client should wait before trying again (``Retry-After``), if it should.
    retry_after_s: int | None = None

    def __init__(
        self,
        detail: Any = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail if detail is not None else self.code.replace("_", " ")
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}
        super().__init__(f"{self.code}: {self.detail}")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.detail, **self.extra)

    def headers(self) -> dict[str, str]:
        """HTTP headers that go with the refusal (``Retry-After`` on a 503)."""
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def error_body(code: str, detail: Any, **extra: Any) -> dict[str, Any]:
    """The one error shape every API returns."""
    body: dict[str, Any] = {"error": code, "detail": detail}
    body.update(extra)
    return body


class BadRequest(RaxxError):
    status_code = 400
    code = "bad_request"


def field_errors(errors: Mapping[str, str] | Mapping[None, str]) -> BadRequest:
    """The 422 of input that did not parse: ``detail`` lists each field (None: not known) and
    what is wrong with it, the shape a framework's validation error renders too."""
    detail = [{"field": name, "message": message} for name, message in errors.items()]
    return BadRequest(detail, code="validation_error", status_code=422)


class RepeatedHeader(BadRequest):
    """A header HTTP does not define as a list (``Authorization``, ``X-Raxx-Actor``) sent twice."""

    code = "repeated_header"

    def __init__(self, name: bytes) -> None:
        header = name.decode("latin-1")
        super().__init__(f"the {header} header appears more than once; send it once", extra={"header": header})


class InvalidJson(BadRequest):
    """A body that does not parse as JSON (bad syntax, not UTF-8, nested too deep)."""

    code = "invalid_json"


class Unauthorized(RaxxError):
    status_code = 401
    code = "unauthorized"


class Forbidden(RaxxError):
    status_code = 403
    code = "forbidden"


class NotFound(RaxxError):
    status_code = 404
    code = "not_found"


class Conflict(RaxxError):
    status_code = 409
    code = "conflict"


class BodyTooLarge(RaxxError):
    """A body over the declared limit: refused before it is read whole."""

    status_code = 413
    code = "body_too_large"


class UnsupportedMediaType(RaxxError):
    """A body sent as something other than JSON to an API that reads JSON."""

    status_code = 415
    code = "unsupported_media_type"

    @classmethod
    def not_json(cls, media: str) -> UnsupportedMediaType:
        """The refusal of a body declared ``media`` (a media type as HTTP compares it; "": none)."""
        return cls(f"the body must be JSON (Content-Type: application/json), not {media or 'without a media type'}")


class TooManyRequests(RaxxError):
    status_code = 429
    code = "too_many_requests"


class Unavailable(RaxxError):
    status_code = 503
    code = "unavailable"
    exit_code = 69  # EX_UNAVAILABLE
    retry_after_s = 2


class DatabaseBusy(Unavailable):
    """No database connection could be had in time (the budgeted pool stayed full, or the
    server had no free slot): the request did nothing; the client retries."""

    code = "database_busy"


class DatabaseUnavailable(Unavailable):
    """The database could not be reached or dropped the connection (restarting, shutting
    down, failed over): the statement did not run, or its transaction was rolled back."""

    code = "database_unavailable"


class ConfigError(RaxxError):
    """Missing or invalid configuration: the process refuses to start."""

    status_code = 500
    code = "config_error"
    exit_code = 78  # EX_CONFIG


class UnknownEnvironment(NotFound, KeyError):
    """Also a KeyError, so the registry behaves as a Mapping (``get``, ``in``)."""

    code = "unknown_environment"
