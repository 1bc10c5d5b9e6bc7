"""Raptor's service wire: error body, identity, readiness, request lookup (read by console, gate, monitor)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """The one error shape: ``{"error": code, "detail": ...}``."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(examples=["not_found"])
    detail: Any = Field(examples=["order not found"])


class Identity(BaseModel):
    """What a Raptor deployment says about itself (``GET /v1/identity``)."""

    service: str = "raptor"
    environment: str
    release: str
    database: str = Field(description="fingerprint that differs between deployments")
    started_at: datetime
    broker: str | None = None
    broker_account_id: str | None = None
    paper: bool | None = None


class ReadyCheck(BaseModel):
    name: str
    ok: bool
    detail: str | None = None


class Readiness(BaseModel):
    """``GET /readyz``: ready only when every check passes; reasons list what failed."""

    ready: bool
    environment: str
    release: str
    reasons: list[str]
    checks: list[ReadyCheck]


class RequestLookupResult(BaseModel):
    """``GET /v1/requests/{request_id}`` on Raptor: did this deployment handle that request?

    The console's audit reconciler asks it to close attempts whose outcome was never
    written (the console died mid-action): ``found`` true means Raptor performed it.
    """

    request_id: str
    found: bool
    action: str | None = None
    target: str | None = None
    at: datetime | None = None
