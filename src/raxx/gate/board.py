"""The releases board: per deployment, current and previous release, soak progress toward
the next environment and what blocks it, approvals, 24 h health, incidents, freezes.

Built here, where the rules live, and stored as one JSON snapshot in the ledger
(``release_board``) that the console renders read-only (contract:
``raxx.common.contracts.board.ReleaseBoard``). The monitor refreshes it every round.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.contracts.board import (
    BoardApproval,
    BoardDeployment,
    BoardFreeze,
    BoardHealthPoint,
    BoardIncident,
    BoardRelease,
    BoardSoak,
    ReleaseBoard,
)
from raxx.gate.checks.conditions import approval_void_reason
from raxx.gate.checks.gate import GateReport, GateRequest, evaluate_gate
from raxx.gate.ledger.models import Release, ReleaseBoardSnapshot
from raxx.gate.ledger.repository import (
    ApprovalRepository,
    FreezeRepository,
    IncidentRepository,
    ReleaseRepository,
    SampleRepository,
)
from raxx.gate.policy import EnvironmentPolicy, Policy
from raxx.gate.verdict import Status

HEALTH_WINDOW = timedelta(hours=24)
HEALTH_BUCKET_SECONDS = 3600


async def build_board(session: AsyncSession, policy: Policy, *, now: datetime) -> ReleaseBoard:
    deployments = [await _deployment(session, policy, env, now) for env in policy.deployments()]
    return ReleaseBoard(generated_at=now, deployments=deployments)


async def publish_board(session: AsyncSession, board: ReleaseBoard) -> None:
    """Replace the stored snapshot (one row)."""
    row = await session.get(ReleaseBoardSnapshot, 1)
    if row is None:
        row = ReleaseBoardSnapshot(id=1)
        session.add(row)
    row.generated_at = board.generated_at
    row.body = board.model_dump(mode="json")
    await session.flush()


async def read_board(session: AsyncSession) -> ReleaseBoard | None:
    row = await session.get(ReleaseBoardSnapshot, 1)
    return ReleaseBoard.model_validate(row.body) if row else None


async def _deployment(session: AsyncSession, policy: Policy, env: EnvironmentPolicy, now: datetime) -> BoardDeployment:
    releases = ReleaseRepository(session)
    current = await releases.current(env.app, env.name)
    # What `raxx gate rollback` would go back to (tests/gate/test_board.py holds the two together).
    previous = await releases.previous(env.app, env.name, current) if current else None
    board = BoardDeployment(
        service=env.service,
        app=env.app,
        environment=env.name,
        current=_release(current),
        previous=_release(previous),
        health=await _health(session, env.service, now),
        incidents=await _incidents(session, env.app),
        freezes=await _freezes(session, env, now),
    )
    target = _promotes_to(policy, env)
    if current is not None and target is not None:
        request = GateRequest(
            app=env.app, environment=target.name, release_id=current.release_id, trigger=None, actor=None
        )
        report = await evaluate_gate(session, policy, request, now=now)
        board.approvals = await _approvals(session, target, report)
        board.soak = _soak(report, target, board.approvals)
    return board


def _promotes_to(policy: Policy, env: EnvironmentPolicy) -> EnvironmentPolicy | None:
    for other in policy.apps[env.app].environments.values():
        if other.soak is not None and other.soak.source == env.name:
            return other
    return None


def _soak(report: GateReport, target: EnvironmentPolicy, approvals: list[BoardApproval]) -> BoardSoak | None:
    soak = report.soak
    if soak is None:
        return None
    blockers = [
        f"{r.name}: {r.reason}"
        for r in report.results
        if r.status is not Status.PASS and r.name not in ("trigger", "approvals")  # both depend on who promotes
    ]
    valid = sum(1 for a in approvals if a.valid)
    if valid < target.approvals_required:
        blockers.append(f"approvals: {valid}/{target.approvals_required}")
    return BoardSoak(
        release=soak.release_id,
        target_environment=target.name,
        fraction=round(soak.fraction, 4),
        elapsed_seconds=int(soak.elapsed.total_seconds()),
        remaining_seconds=int(soak.remaining.total_seconds()),
        window_seconds=int(soak.window.total_seconds()),
        verdict="ready" if not blockers else "blocked",
        blockers=blockers,
    )


async def _approvals(session: AsyncSession, target: EnvironmentPolicy, report: GateReport) -> list[BoardApproval]:
    candidate = report.candidate
    found = await ApprovalRepository(session).for_release(target.app, target.name, report.request.release_id)
    board = []
    for a in found:
        void = approval_void_reason(a, candidate, report.soak) if candidate else "no soaked release to bind it to"
        board.append(
            BoardApproval(
                approved_by=a.approved_by,
                approved_at=a.approved_at,
                commit=a.commit,
                artifact_digest=a.artifact_digest,
                valid=void is None,
                void_reason=void,
            )
        )
    return board


async def _health(session: AsyncSession, service: str, now: datetime) -> list[BoardHealthPoint]:
    buckets = await SampleRepository(session).buckets(
        service, now - HEALTH_WINDOW, now, bucket_seconds=HEALTH_BUCKET_SECONDS
    )
    return [BoardHealthPoint(start=start, samples=count, ok=ok) for start, count, ok in buckets]


async def _incidents(session: AsyncSession, app: str) -> list[BoardIncident]:
    return [
        BoardIncident(id=str(i.id), component=i.component, severity=i.severity, title=i.title, opened_at=i.opened_at)
        for i in await IncidentRepository(session).open(app)
    ]


async def _freezes(session: AsyncSession, env: EnvironmentPolicy, now: datetime) -> list[BoardFreeze]:
    return [
        BoardFreeze(
            id=str(f.id),
            environment=f.environment,
            app=f.app,
            starts_at=f.starts_at,
            ends_at=f.ends_at,
            reason=f.reason,
            created_by=f.created_by,
        )
        for f in await FreezeRepository(session).upcoming(now)
        if f.environment == env.name and f.app in (None, env.app)
    ]


def _release(release: Release | None) -> BoardRelease | None:
    if release is None:
        return None
    return BoardRelease(
        release=release.release_id,
        commit=release.commit,
        artifact_digest=release.artifact_digest,
        deployed_at=release.deployed_at,
        deployed_by=release.deployed_by,
        trigger=release.trigger,
        status=release.status,
        ran_migrations=release.ran_migrations,
        break_glass_reason=release.break_glass_reason,
    )
