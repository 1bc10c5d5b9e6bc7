"""Raptor's refusals in plain words, for the operator who has to decide what to do next.

Raptor answers ``{"error": code, "detail": ..., ...}``. The console keeps Raptor's code
(scripts and the audit trail match on it), writes a sentence a person can act on, and
always carries the request id so support can find the call in Raptor's log.
"""

from __future__ import annotations

from typing import Any

import orjson

from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.console.raptor.client import RaptorResponse, RawResponse


class RaptorRefusal(RaxxError):
    """Raptor refused the request; nothing (or, for cancel-all, not everything) was done."""

    status_code = 409
    code = "raptor_refused"
    audit_outcome = "failed"
    #: Raptor's fields of a 422 (``[{"field", "message"}]``): what the JSON API answers as
    #: ``detail``, the shape its docs promise for ``validation_error``; the sentence is for pages.
    fields: list[dict[str, str]] | None = None


#: Raptor statuses the console passes on; anything else is the console's problem (502).
_PASSED_ON = {400, 404, 409, 422, 503}
#: Refusals of the console's own credentials: an operator cannot fix these, whoever runs the console can.
_CREDENTIAL_CODES = {"unauthorized", "invalid_token", "wrong_environment", "insufficient_scope"}
#: Raptor's database was busy or away: usually nothing happened, but a step-wise submission
#: can fail after its first step, so the effect stays "unknown" until the reconciler asks.
_DATABASE_CODES = {"database_busy", "database_unavailable"}


def refusal_from(spec: EnvironmentSpec, response: RaptorResponse) -> RaptorRefusal:
    body = response.body if isinstance(response.body, dict) else {}
    code = str(body.get("error") or f"http_{response.status}")
    status = response.status if response.status in _PASSED_ON else 502
    extra: dict[str, Any] = {
        "request_id": response.request_id,
        "environment": spec.name,
        "raptor_status": response.status,
    }
    for key in ("reason", "halted_by", "halted_at", "status", "order_id"):
        if key in body:
            extra[key] = body[key]
    refusal = RaptorRefusal(plain_words(spec, code, body, response.status), code=code, status_code=status, extra=extra)
    refusal.fields = _field_list(body.get("detail")) if response.status == 422 else None
    if response.status >= 500 and code != "broker_unavailable":
        refusal.audit_outcome = "unknown"  # Raptor failed mid-way: it may have acted
    return refusal


def refusal_from_raw(spec: EnvironmentSpec, raw: RawResponse) -> RaptorRefusal:
    """:func:`refusal_from` for an answer kept as bytes (the JSON API's reads pass a success on
    untouched); a body that is not JSON counts as no body."""
    try:
        body = orjson.loads(raw.content)
    except orjson.JSONDecodeError:
        body = None
    return refusal_from(spec, RaptorResponse(raw.status, body, raw.request_id, raw.latency_ms))


def plain_words(spec: EnvironmentSpec, code: str, body: dict[str, Any], status: int) -> str:
    """One sentence saying what happened in ``spec`` and what the operator can do."""
    where = spec.label
    detail = body.get("detail")
    if code == "trading_halted":
        who = f" by {body['halted_by']}" if body.get("halted_by") else ""
        when = f" at {body['halted_at']}" if body.get("halted_at") else ""
        return (
            f"Trading is halted in {where}{who}{when} (reason: {body.get('reason') or 'none given'}). "
            "New orders are refused until an admin resumes trading; cancels still work. Nothing was placed."
        )
    if code == "order_not_found":
        return f"There is no such order in {where}. It may belong to another environment."
    if code == "order_not_cancelable":
        state = body.get("status")
        return (
            f"This order is already {state} in {where}; only open orders can be canceled. Nothing was changed."
            if state
            else f"{where} would not cancel this order: {detail}. Nothing was changed."
        )
    if code == "idempotency_conflict":
        return (
            f"This order form was already used in {where} for a different order. Nothing new was placed; "
            "open a fresh order form."
        )
    if code == "broker_unavailable":
        return f"The broker behind {where} did not answer; nothing was applied. Try again in a moment."
    if code in _DATABASE_CODES:
        return (
            f"{where} Raptor could not reach its database in time ({code}); most likely nothing was done, "
            "but check the orders before retrying: the audit trail will record what Raptor did."
        )
    if code in _CREDENTIAL_CODES:
        return (
            f"{where} refused the console's own credentials ({code}: {detail}). Nothing was done. "
            "This is a console configuration problem: tell whoever runs the console."
        )
    if code == "validation_error" or status == 422:
        return f"{where} refused the input: {_fields(detail)}. Nothing was done."
    if status >= 500:
        return f"{where} Raptor failed (HTTP {status}: {code}). Its effect is unknown; check before retrying."
    return f"{where} refused the request ({code}): {detail}. Nothing was done."


def _field_list(detail: Any) -> list[dict[str, str]] | None:
    """Raptor's ``[{"field", "message"}]`` as the console passes it on (text only), or None
    when Raptor sent no such list."""
    if not isinstance(detail, list) or not detail:
        return None
    return [
        {"field": str(d.get("field") or "input"), "message": str(d.get("message"))}
        if isinstance(d, dict)
        else {"field": "input", "message": str(d)}
        for d in detail
    ]


def _fields(detail: Any) -> str:
    if isinstance(detail, list):
        parts = [f"{d.get('field') or 'input'}: {d.get('message')}" if isinstance(d, dict) else str(d) for d in detail]
        return "; ".join(parts) or "invalid input"
    return str(detail)
