"""SQL of the ledger. Services call these; they flush, the caller owns the transaction."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, case, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from raxx.gate.ledger.models import (
    RAN_STATUSES,
    Approval,
    Attestation,
    DeployLock,
    Freeze,
    HealthSample,
    Incident,
    Release,
    RetirementDecision,
)

M = TypeVar("M")

#: First half of every deploy lock's advisory key, so ours never collide with others'.
LOCK_NAMESPACE = zlib.crc32(b"raxx.gate.deploy") & 0x7FFFFFFF


def lock_key(app: str, environment: str) -> int:
    return zlib.crc32(f"{app}/{environment}".encode()) & 0x7FFFFFFF


def _lock_ids(app: str, environment: str) -> dict[str, int]:
    """The two halves of the deployment's advisory lock key, as query parameters."""
    return {"ns": LOCK_NAMESPACE, "key": lock_key(app, environment)}


@dataclass(frozen=True)
class SampleStats:
    count: int
    ok: int
    first_at: datetime | None
    last_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        return self.ok / self.count if self.count else None


@dataclass(frozen=True)
class SampleBreak:
    """The last moment health could not be proven: a failed sample, a wrong release or a gap."""

    at: datetime
    reason: str


class Rows(Generic[M]):
    """What every ledger repository does the same way: add a row (flushed), get one by key."""

    model: type[M]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: M) -> M:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, key: Any) -> M | None:
        return await self.session.get(self.model, key)


class ReleaseRepository(Rows[Release]):
    model = Release

    async def history(self, app: str, environment: str, *, limit: int = 50) -> Sequence[Release]:
        """Newest first: every deploy attempt of this deployment."""
        return (await self.session.scalars(_deploys(app, environment).limit(limit))).all()

    async def ran(self, app: str, environment: str, *, limit: int = 50) -> Sequence[Release]:
        """Newest first: deploys that really switched what runs (succeeded or later rolled back)."""
        return (await self.session.scalars(_ran(app, environment).limit(limit))).all()

    async def deploying(self, app: str, environment: str) -> Sequence[Release]:
        """Newest first: records still waiting for their deploy's result."""
        return (await self.session.scalars(_deploys(app, environment).where(Release.status == "deploying"))).all()

    async def current(self, app: str, environment: str) -> Release | None:
        ran = await self.ran(app, environment, limit=1)
        return ran[0] if ran else None

    async def previous(self, app: str, environment: str, current: Release) -> Release | None:
        """The newest deploy that ran another release than ``current``'s: what a rollback goes
        back to (a redeploy of the release that runs is not a previous one)."""
        stmt = _ran(app, environment).where(Release.release_id != current.release_id).limit(1)
        return (await self.session.scalars(stmt)).first()

    async def latest_stint(self, app: str, environment: str, release_id: str) -> tuple[Release | None, Release | None]:
        """The newest deploy of ``release_id`` that ran, and the deploy that replaced it (or None)."""
        stint = await self.session.scalar(
            select(Release)
            .where(
                Release.app == app,
                Release.environment == environment,
                Release.release_id == release_id,
                Release.status.in_(RAN_STATUSES),
            )
            .order_by(Release.deployed_at.desc(), Release.seq.desc())
            .limit(1)
        )
        if stint is None:
            return None, None
        successor = await self.session.scalar(
            select(Release)
            .where(
                Release.app == app,
                Release.environment == environment,
                Release.status.in_(RAN_STATUSES),
                tuple_(Release.deployed_at, Release.seq) > tuple_(stint.deployed_at, stint.seq),
            )
            .order_by(Release.deployed_at, Release.seq)
            .limit(1)
        )
        return stint, successor

    async def feature_since(self, app: str, environment: str, feature: str) -> Release | None:
        """The first deploy of the unbroken run of releases carrying ``feature`` up to now."""
        ran = list(await self.ran(app, environment, limit=500))
        first = None
        for release in ran:  # newest first: walk back while the feature is present
            if feature not in (release.features or []):
                break
            first = release
        return first


class ApprovalRepository(Rows[Approval]):
    model = Approval

    async def for_release(self, app: str, environment: str, release_id: str) -> Sequence[Approval]:
        stmt = (
            select(Approval)
            .where(Approval.app == app, Approval.environment == environment, Approval.release_id == release_id)
            .order_by(Approval.approved_at)
        )
        return (await self.session.scalars(stmt)).all()


class SampleRepository(Rows[HealthSample]):
    model = HealthSample

    async def stats(
        self, deployment: str, start: datetime, end: datetime, *, release: str | None = None
    ) -> SampleStats:
        """Counts in [start, end]; with ``release``, a sample that saw another release is not ok.

        Starting samples are left out: they neither prove nor disprove health.
        """
        ok = HealthSample.ok if release is None else and_(HealthSample.ok, HealthSample.release_seen == release)
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(ok),
                    func.min(HealthSample.observed_at),
                    func.max(HealthSample.observed_at),
                ).where(
                    HealthSample.deployment == deployment,
                    HealthSample.observed_at >= start,
                    HealthSample.observed_at <= end,
                    HealthSample.starting.is_(False),
                )
            )
        ).one()
        return SampleStats(count=row[0], ok=row[1], first_at=row[2], last_at=row[3])

    async def last_break(
        self, deployment: str, start: datetime, end: datetime, *, release: str, max_gap_seconds: float
    ) -> SampleBreak | None:
        """The latest sample in [start, end] after which continuity restarts.

        A break is a sample showing another release (the exact release was not current)
        or a sample that follows a silence longer than ``max_gap_seconds`` (health was not
        proven meanwhile). Failed samples are not breaks; they count against the success
        rate. Starting samples take part: one showing another release is a break, and they
        show the monitor was running. Only [start, end] is scanned, through the
        (deployment, observed_at) index.
        """
        inner = (
            select(
                HealthSample.observed_at,
                HealthSample.release_seen,
                func.lag(HealthSample.observed_at).over(order_by=HealthSample.observed_at).label("previous_at"),
            )
            .where(
                HealthSample.deployment == deployment,
                HealthSample.observed_at >= start,
                HealthSample.observed_at <= end,
            )
            .subquery()
        )
        gap = func.extract("epoch", inner.c.observed_at - inner.c.previous_at)
        other_release = and_(inner.c.release_seen.is_not(None), inner.c.release_seen != release)
        reason = case(
            (other_release, func.concat("release ", inner.c.release_seen, " answered instead")),
            else_=func.concat("no health sample for ", func.round(gap), " s before this one"),
        )
        stmt = (
            select(inner.c.observed_at, reason)
            .where(or_(other_release, gap > max_gap_seconds))
            .order_by(inner.c.observed_at.desc())
            .limit(1)
        )
        row = (await self.session.execute(stmt)).first()
        return SampleBreak(at=row[0], reason=str(row[1])) if row else None

    async def buckets(
        self, deployment: str, start: datetime, end: datetime, *, bucket_seconds: int
    ) -> list[tuple[datetime, int, int]]:
        """(bucket start, samples, ok samples) per bucket, for sparklines (starting samples left out)."""
        bucket = func.to_timestamp(
            func.floor(func.extract("epoch", HealthSample.observed_at) / bucket_seconds) * bucket_seconds
        ).label("bucket")
        stmt = (
            select(bucket, func.count(), func.count().filter(HealthSample.ok))
            .where(
                HealthSample.deployment == deployment,
                HealthSample.observed_at >= start,
                HealthSample.observed_at <= end,
                HealthSample.starting.is_(False),
            )
            .group_by(bucket)
            .order_by(bucket)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]

    async def latest(self, deployment: str) -> HealthSample | None:
        return await self.session.scalar(
            select(HealthSample)
            .where(HealthSample.deployment == deployment)
            .order_by(HealthSample.observed_at.desc())
            .limit(1)
        )


class IncidentRepository(Rows[Incident]):
    model = Incident

    async def affecting(
        self,
        app: str,
        start: datetime,
        end: datetime,
        *,
        severity: str | None = None,
        component: str | None = None,
    ) -> Sequence[Incident]:
        """Incidents open at any moment of [start, end] (opened before end, not closed before start)."""
        conditions = [
            Incident.app == app,
            Incident.opened_at <= end,
            or_(Incident.closed_at.is_(None), Incident.closed_at >= start),
        ]
        if severity:
            conditions.append(Incident.severity == severity)
        if component:
            conditions.append(Incident.component == component)
        stmt = select(Incident).where(*conditions).order_by(Incident.opened_at)
        return (await self.session.scalars(stmt)).all()

    async def open(self, app: str | None = None) -> Sequence[Incident]:
        stmt = select(Incident).where(Incident.closed_at.is_(None))
        if app:
            stmt = stmt.where(Incident.app == app)
        return (await self.session.scalars(stmt.order_by(Incident.opened_at))).all()


class FreezeRepository(Rows[Freeze]):
    model = Freeze

    async def active(self, app: str, environment: str, at: datetime) -> Sequence[Freeze]:
        stmt = (
            select(Freeze)
            .where(
                Freeze.environment == environment,
                or_(Freeze.app.is_(None), Freeze.app == app),
                Freeze.starts_at <= at,
                Freeze.ends_at > at,
                Freeze.lifted_at.is_(None),
            )
            .order_by(Freeze.ends_at.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def upcoming(self, at: datetime) -> Sequence[Freeze]:
        stmt = select(Freeze).where(Freeze.ends_at > at, Freeze.lifted_at.is_(None)).order_by(Freeze.starts_at)
        return (await self.session.scalars(stmt)).all()


class LockRepository(Rows[DeployLock]):
    """Deploy locks: a session-level advisory lock on a dedicated connection, plus a holder row."""

    model = DeployLock

    async def try_acquire(self, conn: AsyncConnection, app: str, environment: str) -> bool:
        acquired = await conn.scalar(text("SELECT pg_try_advisory_lock(:ns, :key)"), _lock_ids(app, environment))
        return bool(acquired)

    @staticmethod
    async def release_on(conn: AsyncConnection, app: str, environment: str) -> None:
        await conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), _lock_ids(app, environment))

    async def is_held(self, app: str, environment: str) -> bool:
        held = await self.session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = :ns AND objid = :key AND objsubid = 2)"
            ),
            _lock_ids(app, environment),
        )
        return bool(held)

    async def holder(self, app: str, environment: str) -> DeployLock | None:
        return await self.get((app, environment))

    async def record_holder(self, app: str, environment: str, *, holder: str, purpose: str, at: datetime) -> None:
        row = await self.get((app, environment))
        if row is None:
            row = DeployLock(app=app, environment=environment, lock_key=lock_key(app, environment))
            self.session.add(row)
        row.holder, row.purpose, row.acquired_at = holder, purpose, at
        await self.session.flush()

    async def clear_holder(self, app: str, environment: str) -> None:
        row = await self.get((app, environment))
        if row is not None:
            await self.session.delete(row)
            await self.session.flush()


class AttestationRepository(Rows[Attestation]):
    model = Attestation

    async def latest(self, subject: str) -> dict[str, Attestation]:
        stmt = select(Attestation).where(Attestation.subject == subject).order_by(Attestation.attested_at)
        return {a.item: a for a in (await self.session.scalars(stmt)).all()}


class DecisionRepository(Rows[RetirementDecision]):
    model = RetirementDecision


def _deploys(app: str, environment: str) -> Select[Release]:
    """Every deploy record of ``app`` in ``environment``, newest first."""
    return (
        select(Release)
        .where(Release.app == app, Release.environment == environment)
        .order_by(Release.deployed_at.desc(), Release.seq.desc())
    )


def _ran(app: str, environment: str) -> Select[Release]:
    """Deploys of ``app`` in ``environment`` that really switched what runs, newest first."""
    return _deploys(app, environment).where(Release.status.in_(RAN_STATUSES))
