"""Wire types shared by Raptor's schemas: exact decimals as strings, symbols."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer


def plain_decimal(value: Decimal) -> str:
    """``10``, ``0.5``, ``1500``: never exponent notation, never a float."""
    return format(value.normalize(), "f")


def wire_time(value: datetime) -> str:
    """A time as the API writes it (pydantic's form, in UTC): ``2026-11-27T10:00:00.5Z``
    with six fraction digits, none when whole seconds. Stored fills are kept in this form,
    so the JSON PostgreSQL renders for a list needs no reformatting."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: A decimal amount, written as a string (``"123.45"``); input accepts a string or a number.
DecimalStr = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]

Symbol = Annotated[
    str,
    Field(pattern=r"^[A-Z][A-Z0-9.]{0,9}$", examples=["AAPL"], description="ticker, upper case"),
]
