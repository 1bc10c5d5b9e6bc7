"""Raptor's typed refusals. Each renders ``{"error": code, "detail": ...}`` with its status.

A broker that did not answer is ``raxx.raptor.broker.base.BrokerUnavailable``: the venue's
error and the refusal (503 ``broker_unavailable``) are one class.
"""

from __future__ import annotations

from raxx.common.errors import Conflict, Forbidden, NotFound, Unauthorized


class MissingToken(Unauthorized):
    code = "unauthorized"


class InvalidToken(Unauthorized):
    code = "invalid_token"


class WrongEnvironment(Unauthorized):
    """A well-formed token issued for another environment: never acted on here."""

    code = "wrong_environment"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class OrderNotFound(NotFound):
    code = "order_not_found"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class OrderNotCancelable(Conflict):
    code = "order_not_cancelable"


class TradingHalted(Conflict):
    code = "trading_halted"


class PaperOnly(NotFound):
    """Price pinning exists only on the paper broker."""

    code = "not_paper_broker"
