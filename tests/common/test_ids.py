"""``raxx.common.ids.uuid7``: a valid version 7 UUID whose order follows the clock."""

from __future__ import annotations

import time
import uuid

from raxx.common.ids import uuid7


def test_it_is_a_version_7_rfc_uuid_that_round_trips_as_text() -> None:
    made = uuid7()
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert uuid.UUID(str(made)) == made


def test_its_first_48_bits_are_the_unix_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= made.int >> 80 <= after


def test_ids_sort_by_the_millisecond_they_were_made_in_and_do_not_repeat() -> None:
    earlier = [uuid7() for _ in range(2000)]
    time.sleep(0.002)
    later = [uuid7() for _ in range(2000)]
    assert max(earlier) < min(later)
    assert len(set(earlier + later)) == 4000
    # What follows the time (74 random bits, version and variant) differs within a millisecond.
    assert len({u.int & ((1 << 80) - 1) for u in earlier}) == 2000
