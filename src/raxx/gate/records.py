"""Facts people add to the ledger: approvals, freezes, incidents, attestations."""

from __future__ import annotations

import uuid
from datetime import datetime

from raxx.common.errors import BadRequest, Forbidden, NotFound
from raxx.gate.checks.conditions import candidate_from
from raxx.gate.checks.gate import GateRequest, evaluate_gate
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import SEVERITIES, Approval, Attestation, Freeze, Incident
from raxx.gate.ledger.repository import (
    ApprovalRepository,
    AttestationRepository,
    FreezeRepository,
    IncidentRepository,
    ReleaseRepository,
)


class SelfApproval(Forbidden):
    code = "self_approval"


async def approve(
    ctx: GateContext, *, app: str, environment: str, release_id: str, approver: str, comment: str | None
) -> Approval:
    """Approve exactly the soaked release: its commit and artifact are bound into the approval.

    Refused when the approver deployed that release to the soak environment (the
    person who triggered it cannot approve it); at promotion time, an approval by the
    person promoting does not count either.
    """
    env = ctx.policy.environment(app, environment)
    if env.soak is None or env.approvals_required == 0:
        raise BadRequest(f"{env.service} takes no approvals")
    now = ctx.clock.now()
    async with ctx.sessions() as session:
        stint, _ = await ReleaseRepository(session).latest_stint(app, env.soak.source, release_id)
        if stint is None:
            raise NotFound(f"{release_id} never ran on {app}-{env.soak.source}; there is nothing to approve yet")
        if stint.deployed_by == approver:
            raise SelfApproval(f"{approver} deployed {release_id} to {env.soak.source} and cannot approve it")
        request = GateRequest(app=app, environment=environment, release_id=release_id, trigger=None, actor=None)
        report = await evaluate_gate(session, ctx.policy, request, now=now)
        candidate = candidate_from(stint, app=app, environment=environment)
        approval = await ApprovalRepository(session).add(
            Approval(
                app=app,
                environment=environment,
                release_id=release_id,
                commit=candidate.commit,
                artifact_digest=candidate.artifact_digest,
                approved_by=approver,
                approved_at=now,
                comment=comment,
                gate_state={"conditions": [r.as_dict() for r in report.results]},
            )
        )
        await session.commit()
        return approval


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
    known_envs = {e.name for e in ctx.policy.deployments()}
    if environment not in known_envs:
        raise NotFound(f"no environment {environment!r} in the policy (known: {', '.join(sorted(known_envs))})")
    async with ctx.sessions() as session:
        row = await FreezeRepository(session).add(
            Freeze(
                environment=environment,
                app=app,
                starts_at=start,
                ends_at=until,
                reason=reason.strip(),
                created_by=actor,
                created_at=now,
            )
        )
        await session.commit()
        return row


async def lift_freeze(ctx: GateContext, freeze_id: uuid.UUID, *, actor: str) -> Freeze:
    async with ctx.sessions() as session:
        row = await FreezeRepository(session).get(freeze_id)
        if row is None:
            raise NotFound(f"no freeze {freeze_id}")
        if row.lifted_at is not None:
            raise BadRequest(f"freeze {freeze_id} was already lifted by {row.lifted_by}")
        row.lifted_at, row.lifted_by = ctx.clock.now(), actor
        await session.commit()
        return row


async def open_incident(
    ctx: GateContext, *, app: str, component: str, severity: str, title: str, actor: str
) -> Incident:
    if severity not in SEVERITIES:
        raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
    if app not in ctx.policy.apps:
        raise NotFound(f"no app {app!r} in the policy")
    async with ctx.sessions() as session:
        row = await IncidentRepository(session).add(
            Incident(
                app=app, component=component, severity=severity, title=title, opened_at=ctx.clock.now(), opened_by=actor
            )
        )
        await session.commit()
        return row


async def close_incident(ctx: GateContext, incident_id: uuid.UUID, *, actor: str) -> Incident:
    async with ctx.sessions() as session:
        row = await IncidentRepository(session).get(incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        if row.closed_at is not None:
            raise BadRequest(f"incident {incident_id} is already closed")
        row.closed_at, row.closed_by = ctx.clock.now(), actor
        await session.commit()
        return row


async def attest(ctx: GateContext, *, subject: str, item: str, actor: str, note: str | None) -> Attestation:
    rule = ctx.policy.retirement(subject)
    if item not in rule.attestations:
        raise BadRequest(
            f"{item!r} is not an attestation of {subject} (expected one of: {', '.join(rule.attestations)})"
        )
    async with ctx.sessions() as session:
        row = await AttestationRepository(session).add(
            Attestation(subject=subject, item=item, attested_by=actor, attested_at=ctx.clock.now(), note=note)
        )
        await session.commit()
        return row
