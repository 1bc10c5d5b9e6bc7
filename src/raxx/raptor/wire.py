"""Wire types shared by Raptor's schemas: exact decimals as strings, symbols."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer


def _plain(value: Decimal) -> str:
    """``10``, ``0.5``, ``1500``: never exponent notation, never a float."""
    return format(value.normalize(), "f")


#: A decimal amount, written as a string (``"123.45"``); input accepts a string or a number.
DecimalStr = Annotated[Decimal, PlainSerializer(_plain, return_type=str, when_used="json")]

Symbol = Annotated[
    str,
    Field(pattern=r"^[A-Z][A-Z0-9.]{0,9}$", examples=["AAPL"], description="ticker, upper case"),
]
