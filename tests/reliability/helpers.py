"""Small helpers shared by the reliability scenarios: audit reads, chain checks, timers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raxx.common.aio import run_sync
from raxx.common.db import create_engine
from raxx.console.audit import repository
from raxx.console.audit.repository import EventRecord
from raxx.console.audit.verify import VerifyReport, verify_chain


def audit_events(database_url: str) -> list[EventRecord]:
    async def read() -> list[EventRecord]:
        engine = create_engine(database_url, application_name="reliability-test", pool_size=1)
        try:
            async with engine.connect() as conn:
                return [e async for e in repository.stream_events(conn, repository.EventFilter())]
        finally:
            await engine.dispose()

    return run_sync(read)


def verify(database_url: str) -> VerifyReport:
    async def check() -> VerifyReport:
        engine = create_engine(database_url, application_name="reliability-test", pool_size=1)
        try:
            return await verify_chain(engine)
        finally:
            await engine.dispose()

    return run_sync(check)


def gapless(events: list[EventRecord]) -> bool:
    seqs = [e.seq for e in events]
    return seqs == list(range(1, len(seqs) + 1))


@dataclass
class Tally:
    """Requests served and errors, per environment (or any label)."""

    served: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def ok(self, label: str, seconds: float | None = None) -> None:
        self.served[label] += 1
        if seconds is not None:
            self.latencies.setdefault(label, []).append(seconds)

    def error(self, label: str, what: str) -> None:
        self.errors[label] += 1
        kept = self.samples.setdefault(label, [])
        if len(kept) < 5:
            kept.append(what[:300])

    def figures(self) -> dict[str, Any]:
        labels = sorted(set(self.served) | set(self.errors))
        return {
            "requests_served": {k: self.served[k] for k in labels},
            "errors": {k: self.errors[k] for k in labels},
        }


def median_ms(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[len(ordered) // 2] * 1000, 1)


class Deadline:
    """A time box for a loop: tests stop by themselves."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def __bool__(self) -> bool:
        return time.monotonic() < self.end


def guarded(tally: Tally, label: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    """A load thread whose unexpected exception counts as an error of ``label`` (never lost)."""

    def run() -> None:
        try:
            target(*args)
        except Exception as exc:  # a crashed load thread is a failure the test must see
            tally.error(label, f"load thread crashed: {exc!r}")

    return threading.Thread(target=run, name=label)
