"""The words of an order: one vocabulary for Raptor's orders table, its API and its venues.

A venue's own words are mapped onto these (``broker/alpaca.py``). SQL that names them (the
placement functions in ``sql/``, the summary's count) is held to the same sets by the orders
table's check constraints (``models/order.py``), which ``tests/test_models_current.py`` holds
to the migrated database. The console writes the same words from its contract
(``common/contracts/trading.py``), checked against Raptor's OpenAPI document.
"""

from __future__ import annotations

from typing import Literal, get_args

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["day", "gtc"]
OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected"]

SIDES: tuple[Side, ...] = get_args(Side)
ORDER_TYPES: tuple[OrderType, ...] = get_args(OrderType)
TIMES_IN_FORCE: tuple[TimeInForce, ...] = get_args(TimeInForce)
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
#: An order still on the book: it may fill further, and it may be canceled.
OPEN_STATUSES: tuple[OrderStatus, ...] = ("new", "partially_filled")
