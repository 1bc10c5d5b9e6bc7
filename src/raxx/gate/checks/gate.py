"""One evaluation of every condition for deploying a release to an app and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.gate.checks.conditions import (
    Candidate,
    candidate_from,
    check_approvals,
    check_artifact,
    check_freeze,
    check_incidents,
    check_lock,
    check_trigger,
)
from raxx.gate.checks.soak import SoakProgress, evaluate_soak
from raxx.gate.policy import Policy
from raxx.gate.verdict import VERDICT_WORDS, CheckResult, ExitCode, exit_code_for, passed, unknown


@dataclass(frozen=True)
class GateRequest:
    """What someone asks to deploy, and on whose behalf."""

    app: str
    environment: str
    release_id: str
    trigger: str | None
    actor: str | None
    tag: str | None = None
    #: For a promotion: the commit CI expects (GITHUB_SHA); for a direct deploy: the commit built.
    commit: str | None = None
    artifact_digest: str | None = None
    break_glass_reason: str | None = None


@dataclass
class GateReport:
    request: GateRequest
    evaluated_at: datetime
    results: list[CheckResult]
    candidate: Candidate | None
    soak: SoakProgress | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.results)

    @property
    def verdict(self) -> str:
        return VERDICT_WORDS[self.exit_code]

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.request.app,
            "environment": self.request.environment,
            "release": self.request.release_id,
            "evaluated_at": self.evaluated_at.isoformat(),
            "verdict": self.verdict,
            "exit_code": int(self.exit_code),
            "candidate": None
            if self.candidate is None
            else {
                "release": self.candidate.release_id,
                "commit": self.candidate.commit,
                "artifact_digest": self.candidate.artifact_digest,
                "version_tag": self.candidate.version_tag,
            },
            "conditions": [r.as_dict() for r in self.results],
            "notes": self.notes,
        }


async def evaluate_gate(
    session: AsyncSession, policy: Policy, request: GateRequest, *, now: datetime, holding_lock: bool = False
) -> GateReport:
    """Every condition, in a fixed order, each with a pass/fail/unknown and a reason."""
    env = policy.environment(request.app, request.environment)
    soak: SoakProgress | None = None
    results: list[CheckResult] = []
    if env.soak is not None:
        soak = await evaluate_soak(session, env.soak, app=request.app, release_id=request.release_id, now=now)
        candidate = candidate_from(soak.stint, app=request.app, environment=request.environment) if soak.stint else None
        artifact = check_artifact(candidate, request.commit)
    else:
        candidate = _direct_candidate(request)
        artifact = check_artifact(candidate, None) if candidate else _missing_artifact()
    results.append(check_trigger(env, request.trigger, request.tag, candidate))
    results.append(artifact)
    if soak is not None:
        results.extend(soak.results)
    results.append(await check_approvals(session, env, candidate, request.actor, soak))
    if soak is not None:
        results.append(await check_incidents(session, request.app, soak.clock_start, now))
    else:
        # A fix for the incident must still reach staging: incidents gate promotions only.
        results.append(passed("incidents", f"critical incidents do not block deploys to {env.service}"))
    results.append(await check_freeze(session, env, now, break_glass_reason=request.break_glass_reason))
    results.append(passed("lock", "held by this deploy") if holding_lock else await check_lock(session, env))
    report = GateReport(request=request, evaluated_at=now, results=results, candidate=candidate, soak=soak)
    if soak is not None:
        report.notes.append(
            "A soak on staging is a before/after test on another database and traffic mix; "
            "smoke checks and automatic rollback guard prod after the deploy."
        )
    return report


def _direct_candidate(request: GateRequest) -> Candidate | None:
    if not request.commit or not request.artifact_digest:
        return None
    return Candidate(
        app=request.app,
        environment=request.environment,
        release_id=request.release_id,
        commit=request.commit,
        artifact_digest=request.artifact_digest,
        version_tag=request.tag,
    )


def _missing_artifact() -> CheckResult:
    return unknown("artifact", "a direct deploy needs --commit and --artifact to record what runs")
