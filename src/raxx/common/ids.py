"""Time-ordered identifiers (UUID version 7, RFC 9562) for rows written at a high rate.

Why: a random (version 4) key puts every insert into a random page of its index. On a
table that grows by thousands of rows a second (Raptor's orders, the venue's copies, the
request log) that index outgrows the buffer cache, and after each checkpoint every page
first touched is written to the WAL whole. A version 7 id starts with the time in
milliseconds, so new keys land on the index's rightmost pages, as a sequence would, while
staying unguessable (74 random bits) and mergeable across processes and environments.
Python's ``uuid`` module has no ``uuid7`` before 3.14.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RANDOM_A = (1 << 12) - 1
_RANDOM_B = (1 << 62) - 1


def uuid7() -> uuid.UUID:
    """A new UUIDv7: 48 bits of Unix time in ms, the version, 12 + 62 random bits, the variant."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | _VERSION_7 | (rand >> 62 & _RANDOM_A) << 64 | _VARIANT_RFC
    return uuid.UUID(int=value | rand & _RANDOM_B)
