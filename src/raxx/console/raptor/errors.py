"""The console's refusals when a Raptor cannot be called, and failures told in words.

``audit_outcome`` says what the audit trail records: "failed" when nothing reached Raptor,
"unknown" when the request was sent and the answer lost (:mod:`raxx.console.audit.classify`).
"""

from __future__ import annotations

from raxx.common.errors import RaxxError
from raxx.console.raptor.connection import ConnectFailed, ResponseBroken, TlsFailed


class BackendUnavailable(RaxxError):
    """Raptor could not be reached. ``audit_outcome`` says whether it may have acted anyway."""

    status_code = 502
    code = "backend_unavailable"
    #: "failed": nothing reached Raptor; "unknown": the request was sent, the answer was lost.
    audit_outcome = "failed"


class BackendTimeout(BackendUnavailable):
    status_code = 504
    code = "backend_timeout"


class BackendMisconfigured(RaxxError):
    """The backend says it is another environment: nothing is sent to it."""

    status_code = 503
    code = "backend_misconfigured"
    audit_outcome = "failed"


class BackendNotConfigured(RaxxError):
    status_code = 503
    code = "backend_not_configured"
    audit_outcome = "failed"


def describe(exc: BaseException, timeout_s: float) -> str:
    """A failure to reach Raptor in the words the operator reads (``timeout_s``: the call's limit)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, TlsFailed):
        return str(exc)
    if isinstance(exc, ConnectFailed):
        return f"connection refused or host unreachable ({exc})"
    if isinstance(exc, ResponseBroken):
        return f"the connection broke: {exc}"
    if isinstance(exc, RaxxError):
        return str(exc.detail)
    return f"{type(exc).__name__}: {exc}"[:200]
