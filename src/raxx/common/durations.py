"""Durations as people write them: ``30s``, ``15m``, ``24h``, ``7d`` or ``1h30m``.

One grammar for the policy file and every command-line option that takes a duration.
"""

from __future__ import annotations

import re
from datetime import timedelta

#: The longest duration anything takes (a freeze, a soak window, a look back): ten years.
#: Beyond it a time computed from now would leave the calendar (year 9999).
LONGEST = timedelta(days=3650)

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``24h``, ``7d`` or a combination such as ``1h30m``, up to ``LONGEST``;
    ``ValueError`` otherwise."""
    match = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (use e.g. 30s, 15m, 24h, 7d)")
    d, h, m, s = (int(g or 0) for g in match.groups())
    try:
        duration = timedelta(days=d, hours=h, minutes=m, seconds=s)
    except OverflowError:
        duration = LONGEST + LONGEST
    if duration > LONGEST:
        raise ValueError(f"{_shown(text)} is longer than the longest duration taken, {LONGEST.days}d")
    return duration


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}..."
