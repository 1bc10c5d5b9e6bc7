"""``raxx gate retire-check``: evaluate the checklist (`checks/retirement.py`), record the decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from raxx.common.db import create_engine
from raxx.common.dbbudget import one_off_pools
from raxx.gate.audit_evidence import AuditEvidence, SqlAuditEvidence
from raxx.gate.checks.retirement import evaluate_retirement
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import RetirementDecision
from raxx.gate.ledger.repository import DecisionRepository
from raxx.gate.verdict import CheckResult, ExitCode


@dataclass
class RetirementVerdict:
    subject: str
    decided_at: datetime
    results: list[CheckResult]
    decision_id: str

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PASS if self.passed else ExitCode.BLOCKED


async def retire_check_flow(
    ctx: GateContext, subject: str, *, actor: str, audit: AuditEvidence | None = None
) -> RetirementVerdict:
    rule = ctx.policy.retirement(subject)
    now = ctx.clock.now()
    engine = None
    if audit is None and ctx.settings.audit_database_url:
        pools = one_off_pools(ctx.settings.budget, "console", "gate retire-check")
        engine = create_engine(
            ctx.settings.audit_database_url, application_name="raxx-gate-audit", pool_size=pools["pool"]
        )
        audit = SqlAuditEvidence(engine)
    try:
        async with ctx.sessions() as session:
            results = await evaluate_retirement(session, rule, now=now, audit=audit, smoke=ctx.smoke())
            decision = await DecisionRepository(session).add(
                RetirementDecision(
                    subject=subject,
                    decided_at=now,
                    decided_by=actor,
                    passed=all(r.passed for r in results),
                    items=[r.as_dict() for r in results],
                )
            )
            await session.commit()
    finally:
        if engine is not None:
            await engine.dispose()
    return RetirementVerdict(subject, now, results, str(decision.id))
