"""The non-soak conditions of a deploy: trigger, artifact, approvals, incidents, freeze, lock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.actors import actor_key, same_actor
from raxx.gate.checks.soak import SoakProgress
from raxx.gate.ledger.models import Approval, Release
from raxx.gate.ledger.repository import ApprovalRepository, FreezeRepository, IncidentRepository, LockRepository
from raxx.gate.policy import EnvironmentPolicy, format_duration
from raxx.gate.verdict import CheckResult, failed, passed, unknown


@dataclass(frozen=True)
class Candidate:
    """Exactly what would be deployed: approvals bind to all of it."""

    app: str
    environment: str
    release_id: str
    commit: str
    artifact_digest: str
    version_tag: str | None = None
    #: The soak environment's deploy record the candidate soaked in (None for a direct deploy).
    stint_id: uuid.UUID | None = None

    def matches(self, approval: Approval) -> bool:
        return (approval.app, approval.environment, approval.release_id, approval.commit, approval.artifact_digest) == (
            self.app,
            self.environment,
            self.release_id,
            self.commit,
            self.artifact_digest,
        )


def candidate_from(release: Release, *, app: str, environment: str) -> Candidate:
    """The candidate for ``environment`` built from its stint (soak) on another environment."""
    return Candidate(
        app=app,
        environment=environment,
        release_id=release.release_id,
        commit=release.commit,
        artifact_digest=release.artifact_digest,
        version_tag=release.version_tag,
        stint_id=release.id,
    )


def approval_void_reason(approval: Approval, candidate: Candidate, soak: SoakProgress | None) -> str | None:
    """Why ``approval`` does not count for ``candidate``, or None when it does. The one home of the rule.

    An approval binds to the release, its commit and artifact, and the stint it was given
    in: the deploy record since which the release has been current on the soak
    environment. It is void when any of them differs from the candidate's, and when
    staging moved on (another release replaced it) before that stint completed its soak.
    A stint that completed its soak stays promotable after staging moves on (the soak
    rule); so do the approvals given in it, whose evidence can no longer change.
    """
    who = approval.approved_by
    if not candidate.matches(approval):
        return f"{who} approved commit {approval.commit[:12]} / artifact {approval.artifact_digest[:19]}, which changed"
    if candidate.stint_id is None or soak is None or soak.stint is None:
        return None
    stint = soak.stint
    since = f"{soak.source_service} since {stint.deployed_at:%Y-%m-%d %H:%M:%S}"
    if approval.stint_id is None:
        return f"{who} approved before approvals named their stint; the stint on {since} needs a new approval"
    if approval.stint_id != candidate.stint_id:
        return (
            f"{who} approved an earlier stint of {candidate.release_id} "
            f"(at {approval.approved_at:%Y-%m-%d %H:%M:%S}); the stint on {since} needs a new approval"
        )
    if soak.superseded_by is not None and not soak.completed:
        moved = soak.superseded_by
        return (
            f"{soak.source_service} moved on to {moved.release_id} at {moved.deployed_at:%Y-%m-%d %H:%M:%S} "
            f"after {format_duration(soak.elapsed)} of soak; the stint {who} approved ended unsoaked"
        )
    return None


def check_trigger(
    env: EnvironmentPolicy, trigger: str | None, tag: str | None, candidate: Candidate | None
) -> CheckResult:
    allowed = ", ".join(env.triggers)
    if trigger is None:
        return unknown("trigger", f"trigger unknown (pass --trigger; allowed here: {allowed})")
    if trigger not in env.triggers:
        return failed("trigger", f"{trigger} may not deploy to {env.service} (allowed: {allowed})", trigger=trigger)
    if trigger != "tag":
        return passed("trigger", f"{trigger} is allowed for {env.service}", trigger=trigger)
    if not tag:
        return unknown("trigger", "trigger is tag but no tag was given (pass --tag)", trigger=trigger)
    if not env.tag_matches(tag):
        return failed("trigger", f"tag {tag} does not match {env.tag_pattern}", trigger=trigger, tag=tag)
    if candidate and candidate.version_tag and candidate.version_tag != tag:
        return failed(
            "trigger", f"tag {tag} is not the soaked release's tag {candidate.version_tag}", trigger=trigger, tag=tag
        )
    return passed("trigger", f"tag {tag} matches {env.tag_pattern}", trigger=trigger, tag=tag)


def check_artifact(candidate: Candidate | None, expected_commit: str | None) -> CheckResult:
    if candidate is None:
        return unknown("artifact", "no soaked release to take the commit and artifact from")
    evidence = {"commit": candidate.commit, "artifact_digest": candidate.artifact_digest}
    if (
        expected_commit
        and not candidate.commit.startswith(expected_commit)
        and not expected_commit.startswith(candidate.commit)
    ):
        return failed(
            "artifact",
            f"{candidate.release_id} is commit {candidate.commit}, not the requested {expected_commit}",
            **evidence,
        )
    return passed(
        "artifact",
        f"{candidate.release_id}: commit {candidate.commit[:12]}, artifact {candidate.artifact_digest[:19]}",
        **evidence,
    )


async def check_approvals(
    session: AsyncSession,
    env: EnvironmentPolicy,
    candidate: Candidate | None,
    actor: str | None,
    soak: SoakProgress | None = None,
) -> CheckResult:
    needed = env.approvals_required
    if needed == 0:
        return passed("approvals", f"{env.service} needs no approval")
    if candidate is None:
        return unknown("approvals", "no soaked release to bind approvals to")
    found = await ApprovalRepository(session).for_release(candidate.app, candidate.environment, candidate.release_id)
    valid, notes = _sort_approvals(found, candidate, actor, soak)
    approvers = sorted({a.approved_by for a in valid})
    evidence = {"approved_by": approvers, "required": needed, "void": notes}
    if actor is None:
        return unknown("approvals", "who triggers this deploy is unknown (pass --by or set GATE_ACTOR)", **evidence)
    if len(valid) >= needed:
        return passed("approvals", f"{len(valid)}/{needed}: {', '.join(approvers)}", **evidence)
    why = f"; not counted: {'; '.join(notes)}" if notes else ""
    return failed("approvals", f"{len(valid)}/{needed} approvals from someone other than {actor}{why}", **evidence)


def _sort_approvals(
    found: Sequence[Approval], candidate: Candidate, actor: str | None, soak: SoakProgress | None
) -> tuple[list[Approval], list[str]]:
    """The approvals that count, one per person (``raxx.common.actors.actor_key``: ``bob`` and
    ``Bob`` are one), and why each of the others does not."""
    valid: dict[str, Approval] = {}
    notes: list[str] = []
    for approval in found:
        if void := approval_void_reason(approval, candidate, soak):
            notes.append(void)
        elif not actor_key(approval.approved_by):
            notes.append(f"an approval at {approval.approved_at:%Y-%m-%d %H:%M:%S} names no one")
        elif same_actor(approval.approved_by, actor):
            notes.append(f"{approval.approved_by} triggers this deploy and cannot approve it")
        else:
            valid[actor_key(approval.approved_by)] = approval
    return list(valid.values()), notes


async def check_incidents(session: AsyncSession, app: str, since: datetime | None, now: datetime) -> CheckResult:
    """Critical incidents on the app block: any still open, or any opened during the soak."""
    incidents = await IncidentRepository(session).affecting(app, since or now, now, severity="critical")
    if not incidents:
        return passed("incidents", f"no critical incident on {app}")
    first = incidents[0]
    state = "open" if first.closed_at is None else f"closed {first.closed_at:%Y-%m-%d %H:%M}"
    return failed(
        "incidents",
        f"{len(incidents)} critical incident(s) on {app}: {first.component}: {first.title} ({state})",
        incidents=[str(i.id) for i in incidents],
    )


async def check_freeze(
    session: AsyncSession, env: EnvironmentPolicy, now: datetime, *, break_glass_reason: str | None
) -> CheckResult:
    freezes = await FreezeRepository(session).active(env.app, env.name, now)
    if not freezes:
        return passed("freeze", f"no freeze on {env.name}")
    freeze = freezes[0]
    evidence = {"freeze_id": str(freeze.id), "until": freeze.ends_at.isoformat(), "freeze_reason": freeze.reason}
    text = f"{env.name} frozen until {freeze.ends_at:%Y-%m-%d %H:%M %Z}: {freeze.reason}"
    if break_glass_reason and "break_glass" not in env.triggers:
        return failed("freeze", f"{text}; break-glass is not allowed for {env.service} by the policy", **evidence)
    if break_glass_reason:
        return passed("freeze", f"BREAK-GLASS over freeze ({text}): {break_glass_reason}", break_glass=True, **evidence)
    return failed("freeze", f"{text} (a deploy needs --break-glass --reason)", **evidence)


async def check_lock(session: AsyncSession, env: EnvironmentPolicy) -> CheckResult:
    locks = LockRepository(session)
    if not await locks.is_held(env.app, env.name):
        return passed("lock", f"no deploy running on {env.service}")
    holder = await locks.holder(env.app, env.name)
    who = f"{holder.holder} ({holder.purpose}) since {holder.acquired_at:%H:%M:%S}" if holder else "another process"
    return failed("lock", f"a deploy holds {env.service}: {who}")
