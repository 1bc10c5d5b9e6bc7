"""Raptor's refusals in the operator's words: what happened, where, and whether anything was done."""

from __future__ import annotations

import pytest

from raxx.common.environments import EnvironmentSpec
from raxx.console.raptor.client import RaptorResponse
from raxx.console.raptor.refusals import refusal_from

PROD = EnvironmentSpec("prod", "PRODUCTION", "#b00020", "https://raptor-prod.example", "RAPTOR_TOKEN_PROD", True)


@pytest.mark.parametrize("code", ["database_busy", "database_unavailable"])
def test_raptors_database_busy_is_passed_on_as_retryable_with_its_effect_left_to_the_reconciler(code: str) -> None:
    refusal = refusal_from(PROD, RaptorResponse(503, {"error": code, "detail": "retry shortly"}, "req-1", 3.0))
    assert refusal.status_code == 503
    assert refusal.code == code
    assert "PRODUCTION" in refusal.detail
    assert "check the orders before retrying" in refusal.detail
    assert refusal.audit_outcome == "unknown"  # a step-wise submission may have recorded its first step


def test_the_broker_not_answering_applied_nothing() -> None:
    refusal = refusal_from(PROD, RaptorResponse(503, {"error": "broker_unavailable"}, "req-2", 3.0))
    assert refusal.audit_outcome == "failed"
    assert "nothing was applied" in refusal.detail
