"""An order id or a prefix of one, as typed by a person: the range of ids it names.

The console shows ids shortened to a prefix that is unique in the list it shows; a person
pastes that prefix (or the whole id) to find the order again. A prefix of hex digits names
every UUID between the prefix padded with ``0`` and the prefix padded with ``f``, so the
list filters with a range scan of the primary key.
"""

from __future__ import annotations

import re
import uuid

from fastapi.exceptions import RequestValidationError

#: Shorter prefixes name too many orders to be a search by id.
MIN_PREFIX = 4
_HEX = re.compile(rf"^[0-9a-f]{{{MIN_PREFIX},32}}$")


def id_range(text: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The inclusive (lowest, highest) UUIDs starting with ``text`` (dashes and case ignored),
    or a 422 naming the ``id`` field."""
    digits = text.strip().lower().replace("-", "")
    if not _HEX.fullmatch(digits):
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "id"),
                    "msg": f"an order id or the first {MIN_PREFIX} or more of its hex digits",
                    "type": "value_error",
                }
            ]
        )
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
