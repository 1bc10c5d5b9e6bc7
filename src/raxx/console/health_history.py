"""A deployment's health history from the gate's ledger, drawn as server-side SVG.

Success ratio and latency (p50, p95) per time bucket over a window, deploys and incidents
as markers. A bucket without samples is a gap, never a success; samples taken while the
deployment was starting count neither way (as in the gate's soak). Read through the
ledger's views only (``raxx.common.contracts.health``), never its tables.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from raxx.common.contracts.health import DEPLOY_HISTORY_VIEW, DEPLOYMENT_HEALTH_VIEW, INCIDENT_HISTORY_VIEW
from raxx.console.ledger import ledger_engine
from raxx.console.state import ConsoleState

WIDTH, HEIGHT = 480, 48

# Every bucket of the window, with or without samples (a LEFT JOIN, so a gap stays a gap).
# The view names are constants (raxx.common.contracts), never input: hence the noqa.
_BUCKETS = text(
    f"""
    WITH b AS (
        SELECT generate_series(0, :n - 1) AS i
    ), s AS (
        SELECT floor(extract(epoch FROM observed_at - :start) / :step)::int AS i,
               count(*) FILTER (WHERE NOT starting) AS samples,
               count(*) FILTER (WHERE ok) AS ok,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok) AS p95
        FROM {DEPLOYMENT_HEALTH_VIEW.name}
        WHERE deployment = :service AND observed_at >= :start AND observed_at < :end
        GROUP BY 1
    )
    SELECT b.i, COALESCE(s.samples, 0) AS samples, COALESCE(s.ok, 0) AS ok, s.p50, s.p95
    FROM b LEFT JOIN s USING (i) ORDER BY b.i
    """  # noqa: S608
)
_DEPLOYS = text(
    f"SELECT deployed_at AS at, release_id AS label, status FROM {DEPLOY_HISTORY_VIEW.name}"  # noqa: S608
    " WHERE app = :app AND environment = :env AND deployed_at >= :start AND deployed_at < :end ORDER BY deployed_at"
)
_INCIDENTS = text(
    "SELECT opened_at AS at, severity || ': ' || title AS label, severity AS status"  # noqa: S608
    f" FROM {INCIDENT_HISTORY_VIEW.name}"
    " WHERE app = :app AND opened_at >= :start AND opened_at < :end ORDER BY opened_at"
)


@dataclass(frozen=True)
class Bucket:
    x: float
    width: float
    start: datetime
    samples: int
    ok: int
    p50: float | None
    p95: float | None

    @property
    def kind(self) -> str:
        if not self.samples:
            return "gap"
        return "ok" if self.ok / self.samples >= 0.995 else "bad"

    @property
    def bar_height(self) -> float:
        return HEIGHT if not self.samples else max(2.0, HEIGHT * self.ok / self.samples)


@dataclass(frozen=True)
class Marker:
    x: float
    at: datetime
    label: str
    status: str


@dataclass(frozen=True)
class History:
    service: str
    title: str
    buckets: list[Bucket]
    deploys: list[Marker]
    incidents: list[Marker]
    latency_max: float

    @property
    def sampled(self) -> int:
        return sum(1 for b in self.buckets if b.samples)

    def latency_line(self, which: str) -> list[str]:
        """Polyline point lists for p50 or p95, broken at every gap (no line across a bucket without data)."""
        lines: list[str] = []
        run: list[str] = []
        for b in self.buckets:
            value = getattr(b, which)
            if value is None:
                if len(run) > 1:
                    lines.append(" ".join(run))
                run = []
                continue
            y = HEIGHT - HEIGHT * value / self.latency_max
            run.append(f"{b.x + b.width / 2:.1f},{y:.1f}")
        if len(run) > 1:
            lines.append(" ".join(run))
        return lines


async def read_history(
    state: ConsoleState, *, service: str, app: str, environment: str, end: datetime, window: timedelta, buckets: int
) -> History | None:
    """The deployment's history over ``window`` before ``end`` (None when the ledger cannot be read)."""
    engine = ledger_engine(state)
    if engine is None:
        return None
    start, step = end - window, window / buckets
    params: dict[str, Any] = {"service": service, "app": app, "env": environment, "start": start, "end": end}
    try:
        async with asyncio.timeout(3.0), engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            rows = (await conn.execute(_BUCKETS, {**params, "n": buckets, "step": step.total_seconds()})).all()
            deploys = (await conn.execute(_DEPLOYS, params)).all()
            incidents = (await conn.execute(_INCIDENTS, params)).all()
    except Exception:  # the page says the history cannot be shown; the rest of it stands
        return None
    width = WIDTH / buckets

    def x_of(at: datetime) -> float:
        return round(WIDTH * (at - start) / window, 1)

    cells = [
        Bucket(
            round(r.i * width, 2), round(max(width - 0.5, 0.5), 2), start + r.i * step, r.samples, r.ok, r.p50, r.p95
        )
        for r in rows
    ]
    latencies = [b.p95 for b in cells if b.p95 is not None]
    return History(
        service=service,
        title=f"{service}, last {_words(window)}",
        buckets=cells,
        deploys=[Marker(x_of(r.at), r.at, r.label, r.status) for r in deploys],
        incidents=[Marker(x_of(r.at), r.at, r.label, r.status) for r in incidents],
        latency_max=max(latencies, default=1.0) or 1.0,
    )


def _words(window: timedelta) -> str:
    return f"{window.days} days" if window.days > 1 else f"{int(window.total_seconds() // 3600)} h"
