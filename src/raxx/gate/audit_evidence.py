"""Evidence from the console's audit trail, read-only, for the retirement checklist.

Read through the console database's view ``audit_evidence_v1`` only (one row per finished
action; ``raxx.common.contracts.audit.AUDIT_EVIDENCE_VIEW``), never ``audit_event`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.contracts.audit import AUDIT_EVIDENCE_VIEW


@dataclass(frozen=True)
class SwitchEvidence:
    """Environment-switch events in a window: how many, to where, with which outcomes."""

    count: int
    first_at: datetime | None = None
    last_at: datetime | None = None
    environments: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)


class AuditEvidence(Protocol):
    async def switch_events(self, start: datetime, end: datetime) -> SwitchEvidence: ...


class SqlAuditEvidence:
    """Finished actions (outcomes) with ``action = 'env.switch'``, in a read-only transaction."""

    SWITCH_ACTION = "env.switch"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def switch_events(self, start: datetime, end: datetime) -> SwitchEvidence:
        params = {"action": self.SWITCH_ACTION, "start": start, "end": end}
        # One outcome per switch (an attempt has its outcome, or the reconciler's "unknown").
        where = (
            f"FROM {AUDIT_EVIDENCE_VIEW.name} WHERE action = :action AND occurred_at >= :start AND occurred_at < :end"
        )
        async with self.engine.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            total = (
                await conn.execute(text(f"SELECT count(*), min(occurred_at), max(occurred_at) {where}"), params)
            ).one()
            by_env = await conn.execute(
                text(f"SELECT coalesce(environment, '(none)'), count(*) {where} GROUP BY 1"),
                params,
            )
            by_outcome = await conn.execute(
                text(f"SELECT coalesce(outcome, '(none)'), count(*) {where} GROUP BY 1"),
                params,
            )
            envs, outcomes = {r[0]: r[1] for r in by_env}, {r[0]: r[1] for r in by_outcome}
            await conn.rollback()
        return SwitchEvidence(total[0], total[1], total[2], envs, outcomes)
