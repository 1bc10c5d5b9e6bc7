"""Facts people add to the ledger: approvals, freezes, incidents, attestations."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from raxx.common.actors import same_actor
from raxx.common.errors import BadRequest, Forbidden, NotFound
from raxx.gate.checks.gate import GateRequest, evaluate_gate
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import SEVERITIES, Approval, Attestation, Freeze, Incident
from raxx.gate.ledger.repository import (
    ApprovalRepository,
    AttestationRepository,
    FreezeRepository,
    IncidentRepository,
    Rows,
)
from raxx.gate.policy import format_duration

M = TypeVar("M")


class SelfApproval(Forbidden):
    code = "self_approval"


async def approve(
    ctx: GateContext, *, app: str, environment: str, release_id: str, approver: str, comment: str | None
) -> Approval:
    """Approve the release's current stint on the soak environment: release, commit, artifact
    and that stint are bound into the approval (what voids it: ``approval_void_reason``).

    Allowed during the soak (the approval then records how much soak remained: see
    :func:`approval_notice`); refused when the stint already ended before its soak
    completed, and when the approver deployed that release to the soak environment (the
    person who triggered it cannot approve it). At promotion time, an approval by the
    person promoting does not count either.
    """
    env = ctx.policy.environment(app, environment)
    if env.soak is None or env.approvals_required == 0:
        raise BadRequest(f"{env.service} takes no approvals")
    now = ctx.clock.now()
    async with ctx.sessions() as session:
        request = GateRequest(app=app, environment=environment, release_id=release_id, trigger=None, actor=None)
        report = await evaluate_gate(session, ctx.policy, request, now=now)
        soak = report.soak
        if soak is None or soak.stint is None or report.candidate is None:
            raise NotFound(f"{release_id} never ran on {app}-{env.soak.source}; there is nothing to approve yet")
        stint = soak.stint
        if same_actor(stint.deployed_by, approver):
            raise SelfApproval(f"{approver} deployed {release_id} to {env.soak.source} and cannot approve it")
        if soak.superseded_by is not None and not soak.completed:
            raise BadRequest(
                f"{soak.source_service} moved on to {soak.superseded_by.release_id} before {release_id} completed "
                f"its soak; deploy {release_id} there again and approve that stint"
            )
        approval = await ApprovalRepository(session).add(
            Approval(
                app=app,
                environment=environment,
                release_id=release_id,
                commit=report.candidate.commit,
                artifact_digest=report.candidate.artifact_digest,
                stint_id=stint.id,
                approved_by=approver,
                approved_at=now,
                comment=comment,
                gate_state={
                    "conditions": [r.as_dict() for r in report.results],
                    "stint": {
                        "service": soak.source_service,
                        "release_record": str(stint.id),
                        "since": stint.deployed_at.isoformat(),
                    },
                    "soak": {
                        "completed": soak.completed,
                        "elapsed_seconds": int(soak.elapsed.total_seconds()),
                        "remaining_seconds": int(soak.remaining.total_seconds()),
                        "window_seconds": int(soak.window.total_seconds()),
                    },
                },
            )
        )
        await session.commit()
        return approval


def approval_notice(approval: Approval) -> str:
    """What ``raxx gate approve`` tells the approver about the stint and soak they approved."""
    soak, stint = approval.gate_state["soak"], approval.gate_state["stint"]
    where = f"{stint['service']} (stint since {stint['since']})"
    if soak["completed"]:
        return f"{approval.release_id} has completed its soak on {where}; a redeploy there voids this approval"
    remaining = format_duration(timedelta(seconds=soak["remaining_seconds"]))
    window = format_duration(timedelta(seconds=soak["window_seconds"]))
    return (
        f"approved during the soak: {remaining} of {window} remain on {where}; this approval is void if "
        f"{stint['service']} moves on before then, and whenever {approval.release_id} is redeployed there"
    )


async def freeze(
    ctx: GateContext,
    *,
    environment: str,
    until: datetime,
    reason: str,
    actor: str,
    app: str | None = None,
    starts: datetime | None = None,
) -> Freeze:
    now = ctx.clock.now()
    start = starts or now
    if until <= start:
        raise BadRequest(f"--until {until.isoformat()} is not after the freeze start {start.isoformat()}")
    if not reason.strip():
        raise BadRequest("a freeze needs a --reason people can read")
    if app is None:
        ctx.policy.deployments_in(environment)
    else:
        ctx.policy.environment(app, environment)
    row = Freeze(
        environment=environment,
        app=app,
        starts_at=start,
        ends_at=until,
        reason=reason.strip(),
        created_by=actor,
        created_at=now,
    )
    return await _add(ctx, FreezeRepository, row)


async def lift_freeze(ctx: GateContext, freeze_id: uuid.UUID, *, actor: str) -> Freeze:
    def lift(row: Freeze) -> None:
        if row.lifted_at is not None:
            raise BadRequest(f"freeze {freeze_id} was already lifted by {row.lifted_by}")
        row.lifted_at, row.lifted_by = ctx.clock.now(), actor

    return await _change(ctx, FreezeRepository, freeze_id, "freeze", lift)


async def open_incident(
    ctx: GateContext, *, app: str, component: str, severity: str, title: str, actor: str
) -> Incident:
    if severity not in SEVERITIES:
        raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
    ctx.policy.app(app)
    row = Incident(
        app=app, component=component, severity=severity, title=title, opened_at=ctx.clock.now(), opened_by=actor
    )
    return await _add(ctx, IncidentRepository, row)


async def close_incident(ctx: GateContext, incident_id: uuid.UUID, *, actor: str) -> Incident:
    def close(row: Incident) -> None:
        if row.closed_at is not None:
            raise BadRequest(f"incident {incident_id} is already closed")
        row.closed_at, row.closed_by = ctx.clock.now(), actor

    return await _change(ctx, IncidentRepository, incident_id, "incident", close)


async def attest(ctx: GateContext, *, subject: str, item: str, actor: str, note: str | None) -> Attestation:
    rule = ctx.policy.retirement(subject)
    if item not in rule.attestations:
        raise BadRequest(
            f"{item!r} is not an attestation of {subject} (expected one of: {', '.join(rule.attestations)})"
        )
    row = Attestation(subject=subject, item=item, attested_by=actor, attested_at=ctx.clock.now(), note=note)
    return await _add(ctx, AttestationRepository, row)


async def _add(ctx: GateContext, repository: type[Rows[M]], row: M) -> M:
    """Record ``row`` in a transaction of its own."""
    async with ctx.sessions() as session:
        added = await repository(session).add(row)
        await session.commit()
        return added


async def _change(
    ctx: GateContext, repository: type[Rows[M]], key: uuid.UUID, what: str, change: Callable[[M], None]
) -> M:
    """Change the ``what`` ``key`` in a transaction of its own; ``change`` refuses what it cannot do."""
    async with ctx.sessions() as session:
        row = await repository(session).get(key)
        if row is None:
            raise NotFound(f"no {what} {key}")
        change(row)
        await session.commit()
        return row
