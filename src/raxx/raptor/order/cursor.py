"""Opaque pagination cursors: the (created_at, id) of the last order of a page."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from fastapi.exceptions import RequestValidationError


def encode(created_at: datetime, order_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{order_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Parse a cursor or raise a 422 naming the ``cursor`` field."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, order_id = raw.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive timestamp")
        return when, uuid.UUID(order_id)
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "not a cursor returned by this API", "type": "value_error"}]
        ) from None
