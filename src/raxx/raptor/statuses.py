"""An order's statuses: one vocabulary for Raptor's orders table, its API and its venues.

A venue's own words are mapped onto these (``broker/alpaca.py``). SQL that names them (the
placement functions in ``sql/``, the summary's count) is held to the same set by the orders
table's check constraint (``models/order.py``), which ``tests/test_models_current.py`` holds
to the migrated database.
"""

from __future__ import annotations

from typing import Literal, get_args

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected"]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
#: An order still on the book: it may fill further, and it may be canceled.
OPEN_STATUSES: tuple[OrderStatus, ...] = ("new", "partially_filled")
