"""``GET /v1/requests/{request_id}``: the console's audit reconciler asks what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

MutationAction = Literal["order.submit", "order.cancel", "order.cancel_all", "trading.halt", "trading.resume"]


class RequestLookup(BaseModel):
    request_id: str
    found: bool
    action: MutationAction | None = None
    target: str | None = None
    at: datetime | None = None
    token_id: str | None = None
    actor: str | None = None
