"""Who a session cookie names, remembered for a while: the audit trail's actor lookup.

Every audited POST first asks which user its session cookie belongs to (the attempt is
written before the route's own login check runs), which was a database round trip of
its own on every action. A session belongs to one user for its whole life, so that
answer cannot change while the session exists; it is remembered per session hash for
``ttl_s`` (bounded, so a flood of cookies cannot grow memory). Only the attribution is
remembered: whether the session is still valid is decided by the route, on every request,
from the database.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

Actor = tuple[uuid.UUID, str]


@dataclass
class SessionActors:
    ttl_s: float = 60.0
    max_entries: int = 10_000
    _known: dict[str, tuple[float, Actor]] = field(default_factory=dict)

    def get(self, session_hash: str) -> Actor | None:
        hit = self._known.get(session_hash)
        if hit is None or time.monotonic() - hit[0] >= self.ttl_s:
            return None
        return hit[1]

    def remember(self, session_hash: str, actor: Actor) -> None:
        if len(self._known) >= self.max_entries:
            self._known.clear()
        self._known[session_hash] = (time.monotonic(), actor)
