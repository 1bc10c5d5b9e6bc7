"""The soak rule: the exact release, current on the source environment, healthy, long enough.

The clock starts when the release began its latest uninterrupted stint on the source
environment (staging). It restarts after a sample that shows another release or after
a silence longer than ``max_sample_gap``. If another release replaced it before the
window was complete, the soak failed and the newer release has its own clock. Failed
samples count against the success rate over the evaluated window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.gate.ledger.models import Release
from raxx.gate.ledger.repository import ReleaseRepository, SampleRepository
from raxx.gate.policy import SoakRule, format_duration
from raxx.gate.verdict import CheckResult, failed, passed, unknown


@dataclass
class SoakProgress:
    """What the soak check saw; the releases page draws its progress bar from it."""

    release_id: str
    source_service: str
    stint: Release | None = None
    superseded_by: Release | None = None
    clock_start: datetime | None = None
    proven_until: datetime | None = None
    elapsed: timedelta = timedelta(0)
    window: timedelta = timedelta(0)
    restart_reason: str | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def remaining(self) -> timedelta:
        return max(timedelta(0), self.window - self.elapsed)

    @property
    def completed(self) -> bool:
        """The stint reached its window: what the soak condition passes on."""
        return self.stint is not None and self.elapsed >= self.window

    @property
    def fraction(self) -> float:
        return min(1.0, self.elapsed / self.window) if self.window else 0.0


async def evaluate_soak(
    session: AsyncSession, rule: SoakRule, *, app: str, release_id: str, now: datetime
) -> SoakProgress:
    """Soak, sample coverage and success rate of ``release_id`` on ``rule.source``."""
    progress = SoakProgress(release_id=release_id, source_service=f"{app}-{rule.source}", window=rule.window)
    stint, successor = await ReleaseRepository(session).latest_stint(app, rule.source, release_id)
    progress.stint, progress.superseded_by = stint, successor
    if stint is None:
        progress.results = [
            failed("soak", f"{release_id} never ran on {rule.source}; it must soak there first"),
            failed("sample_coverage", f"no soak of {release_id} to sample"),
            failed("success_rate", f"no soak of {release_id} to measure"),
        ]
        return progress
    # Bounds are inclusive; the successor's first sample must not count for this release.
    stint_end = successor.deployed_at - timedelta(microseconds=1) if successor else now
    await _measure(session, rule, progress, stint.deployed_at, stint_end, now)
    return progress


async def _measure(
    session: AsyncSession,
    rule: SoakRule,
    progress: SoakProgress,
    stint_start: datetime,
    stint_end: datetime,
    now: datetime,
) -> None:
    samples = SampleRepository(session)
    service, release = progress.source_service, progress.release_id
    # Only the newest window of the stint matters: older health does not vouch for today.
    scan_start = max(stint_start, stint_end - rule.window - rule.max_sample_gap)
    brk = await samples.last_break(
        service, scan_start, stint_end, release=release, max_gap_seconds=rule.max_sample_gap.total_seconds()
    )
    clock_start = max(stint_start, brk.at) if brk else stint_start
    progress.restart_reason = brk.reason if brk and brk.at > stint_start else None
    first_window = await samples.stats(service, clock_start, stint_end, release=release)
    clock_start = _first_sample_start(clock_start, first_window.first_at, rule, progress)
    proven_until = first_window.last_at
    progress.clock_start, progress.proven_until = clock_start, proven_until
    progress.elapsed = (proven_until - clock_start) if proven_until and proven_until > clock_start else timedelta(0)
    eval_start = max(clock_start, (proven_until or stint_end) - rule.window)
    stats = await samples.stats(service, eval_start, stint_end, release=release)
    progress.results = [
        _soak_result(rule, progress, stint_end, now),
        _coverage_result(rule, progress, stats.count, stint_end, now),
        _rate_result(rule, stats.count, stats.ok),
    ]


def _first_sample_start(
    clock_start: datetime, first_at: datetime | None, rule: SoakRule, progress: SoakProgress
) -> datetime:
    """A stint whose first sample came late has its clock start at that sample."""
    if first_at and first_at - clock_start > rule.max_sample_gap:
        progress.restart_reason = progress.restart_reason or "no health sample right after the deploy"
        return first_at
    return clock_start


def _soak_result(rule: SoakRule, p: SoakProgress, stint_end: datetime, now: datetime) -> CheckResult:
    evidence = {
        "source": p.source_service,
        "stint_started_at": p.stint.deployed_at.isoformat() if p.stint else None,
        "clock_started_at": p.clock_start.isoformat() if p.clock_start else None,
        "elapsed_seconds": int(p.elapsed.total_seconds()),
        "remaining_seconds": int(p.remaining.total_seconds()),
        "window_seconds": int(rule.window.total_seconds()),
        "restart_reason": p.restart_reason,
    }
    done = f"{format_duration(p.elapsed)} of {format_duration(rule.window)}"
    if p.completed:
        where = "" if p.superseded_by is None else f" (before {p.superseded_by.release_id} replaced it)"
        return passed("soak", f"soaked {done} on {p.source_service}{where}", **evidence)
    if p.superseded_by is not None:
        evidence["superseded_by"] = p.superseded_by.release_id
        return failed(
            "soak",
            f"replaced on {p.source_service} by {p.superseded_by.release_id} after {done}; "
            f"the soak restarts for the newer release",
            **evidence,
        )
    restarted = f"; clock restarted: {p.restart_reason}" if p.restart_reason else ""
    if p.proven_until is None:
        return unknown("soak", f"no health sample of {p.release_id} on {p.source_service} yet{restarted}", **evidence)
    return failed("soak", f"{done} soaked, {format_duration(p.remaining)} left{restarted}", **evidence)


def _coverage_result(rule: SoakRule, p: SoakProgress, count: int, stint_end: datetime, now: datetime) -> CheckResult:
    silent_for = (stint_end - p.proven_until) if p.proven_until else None
    needed = rule.min_samples
    evidence = {"samples": count, "min_samples": needed, "interval_seconds": int(rule.sample_interval.total_seconds())}
    if silent_for is None:
        return unknown(
            "sample_coverage", f"no health sample on {p.source_service} (is the monitor running?)", **evidence
        )
    if p.superseded_by is None and silent_for > rule.max_sample_gap:
        return unknown(
            "sample_coverage",
            f"no health sample for {format_duration(silent_for)} (is the monitor running?); health cannot be proven",
            **evidence,
        )
    if count < needed:
        return failed("sample_coverage", f"{count} samples in the soak, {needed} needed", **evidence)
    return passed("sample_coverage", f"{count} samples, no gap over {format_duration(rule.max_sample_gap)}", **evidence)


def _rate_result(rule: SoakRule, count: int, ok: int) -> CheckResult:
    evidence = {"samples": count, "ok": ok, "min_success_rate": rule.min_success_rate}
    if count == 0:
        return unknown("success_rate", "no samples to measure", **evidence)
    rate = ok / count
    evidence["success_rate"] = round(rate, 5)
    text = f"{rate:.2%} of {count} samples healthy (needs {rule.min_success_rate:.2%})"
    return (
        passed("success_rate", text, **evidence)
        if rate >= rule.min_success_rate
        else failed("success_rate", text, **evidence)
    )
