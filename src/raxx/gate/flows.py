"""Deploy, promote and roll back: check, lock, deploy through the platform, record, smoke,
and roll back automatically when a smoke check fails.

Every step that changes something is committed to the ledger before the next one
starts, so a crash leaves a record of the attempt (status ``deploying``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from raxx.common.errors import BadRequest, NotFound, RaxxError
from raxx.common.logging import log_event
from raxx.gate.checks.gate import GateReport, GateRequest, evaluate_gate
from raxx.gate.checks.smoke import run_smoke, smoke_preflight
from raxx.gate.context import GateContext
from raxx.gate.ledger.models import Release
from raxx.gate.ledger.repository import ReleaseRepository
from raxx.gate.locks import deploy_lock
from raxx.gate.platform.base import PlatformError
from raxx.gate.policy import EnvironmentPolicy
from raxx.gate.verdict import CheckResult, ExitCode, Status

log = logging.getLogger("raxx.gate.flows")

#: How many past deploys a rollback looks through (newest first).
ROLLBACK_HISTORY = 500


@dataclass
class FlowResult:
    """What a flow did: the gate report, the records it wrote, smoke results, warnings."""

    action: str
    exit_code: ExitCode
    summary: str
    report: GateReport | None = None
    release: Release | None = None
    rollback: Release | None = None
    smoke: list[CheckResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "exit_code": int(self.exit_code),
            "summary": self.summary,
            "gate": self.report.as_dict() if self.report else None,
            "release": _release_dict(self.release),
            "rollback": _release_dict(self.rollback),
            "smoke": [r.as_dict() for r in self.smoke],
            "warnings": self.warnings,
        }


async def check_flow(ctx: GateContext, request: GateRequest) -> GateReport:
    """Evaluate the gate without deploying (``raxx gate check``)."""
    async with ctx.sessions() as session:
        return await evaluate_gate(session, ctx.policy, request, now=ctx.clock.now())


async def deploy_flow(ctx: GateContext, request: GateRequest, *, features: tuple[str, ...] = ()) -> FlowResult:
    """Deploy a build straight to an environment that has no soak rule (staging, console prod)."""
    env = ctx.policy.environment(request.app, request.environment)
    if env.soak is not None:
        raise BadRequest(f"{env.service} takes only soaked releases: use `raxx gate promote`")
    return await _gated_deploy(ctx, env, request, "deploy", features)


async def promote_flow(ctx: GateContext, request: GateRequest) -> FlowResult:
    """Promote the exact release that soaked on the source environment (never "whatever is newest")."""
    env = ctx.policy.environment(request.app, request.environment)
    if env.soak is None:
        raise BadRequest(f"{env.service} has no soak rule; use `raxx gate deploy`")
    return await _gated_deploy(ctx, env, request, "promote", ())


async def _gated_deploy(
    ctx: GateContext, env: EnvironmentPolicy, request: GateRequest, action: str, features: tuple[str, ...]
) -> FlowResult:
    platform = ctx.require_platform()
    holder = request.actor or "unknown"
    async with _deploying(ctx, env, holder=holder, purpose=f"{action} {request.release_id}"):
        async with ctx.sessions() as session:
            # Re-evaluated under the lock: what was true before waiting may not be now.
            report = await evaluate_gate(session, ctx.policy, request, now=ctx.clock.now(), holding_lock=True)
        report.results.append(smoke_preflight(ctx.smoke(), env))
        if report.exit_code is not ExitCode.PASS:
            return FlowResult(action, report.exit_code, f"{action} {request.release_id}: {report.verdict}", report)
        release = await _record_start(ctx, env, request, report, features)
        try:
            outcome = await platform.deploy(env.service, request.release_id)
        except PlatformError as exc:
            await _finish(ctx, release, "failed", detail=str(exc.detail))
            return FlowResult(action, ExitCode.DEPLOY_FAILED, f"deploy failed: {exc.detail}", report, release)
        except Exception as exc:
            # Whatever stopped the deploy (a topology file that is not one, a bug), its record
            # says so instead of staying ``deploying``; the command then fails as it would.
            await _finish(ctx, release, "failed", detail=f"the deploy stopped: {_reason(exc)}")
            raise
        release = await _finish(ctx, release, "succeeded", migrations=outcome.migrations_ran)
        return await _smoke_or_roll_back(ctx, env, action, report, release)


@asynccontextmanager
async def _deploying(ctx: GateContext, env: EnvironmentPolicy, *, holder: str, purpose: str) -> AsyncIterator[None]:
    """The deploy lock, and with it the end of any deploy it proves is over (``_settle_interrupted``)."""
    async with deploy_lock(ctx, env.app, env.name, holder=holder, purpose=purpose):
        await _settle_interrupted(ctx, env)
        yield


async def _settle_interrupted(ctx: GateContext, env: EnvironmentPolicy) -> None:
    """Close the records a killed deploy left ``deploying``, by what the platform runs.

    The lock is an advisory lock of the deploying process's session: holding it proves no
    deploy of this app and environment is running, so a record still ``deploying`` is one whose
    process died (SIGKILL, a lost runner) between its start and its result. The newest such
    record succeeded if the platform runs its release (its soak counts from now), every other
    one failed; each says so in its detail. Otherwise the board would show it deploying for ever
    and the next deploy would name an older release as the one it replaces.
    """
    async with ctx.sessions() as session:
        stuck = list(await ReleaseRepository(session).deploying(env.app, env.name))
    if not stuck:
        return
    running = await _platform_release(ctx, env)
    found = f"the next deploy found {env.service} running {running or 'a release the platform did not name'}"
    for record in stuck:
        status = "succeeded" if record is stuck[0] and running == record.release_id else "failed"
        await _finish(
            ctx, record, status, detail=f"interrupted: the process deploying it ended without a result; {found}"
        )
        settled = {"service": env.service, "release": record.release_id, "status": status, "platform_runs": running}
        log_event(log, "gate.deploy.interrupted_settled", level=logging.WARNING, **settled)


async def _record_start(
    ctx: GateContext, env: EnvironmentPolicy, request: GateRequest, report: GateReport, features: tuple[str, ...]
) -> Release:
    candidate = report.candidate
    assert candidate is not None  # a passing gate always has one
    break_glass = any(r.evidence.get("break_glass") for r in report.results)
    async with ctx.sessions() as session:
        releases = ReleaseRepository(session)
        previous = await releases.current(env.app, env.name)
        inherited = tuple(previous.features or []) if previous else ()
        # Before the ledger's first record, what runs is known only to the platform.
        previous_id = previous.release_id if previous else await _platform_release(ctx, env)
        release = await releases.add(
            Release(
                app=env.app,
                environment=env.name,
                release_id=candidate.release_id,
                commit=candidate.commit,
                version_tag=request.tag or candidate.version_tag,
                artifact_digest=candidate.artifact_digest,
                deployed_at=ctx.clock.now(),
                deployed_by=request.actor or "unknown",
                trigger="break_glass" if break_glass else (request.trigger or "dispatch"),
                status="deploying",
                previous_release=previous_id,
                break_glass_reason=request.break_glass_reason if break_glass else None,
                features=sorted(set(inherited) | set(features)),
                ran_migrations=False,
                detail=f"requested as {request.trigger}" if break_glass else None,
            )
        )
        await session.commit()
        return release


def _reason(exc: Exception) -> str:
    """What ``exc`` says, for a release record a person reads."""
    if isinstance(exc, RaxxError):
        return str(exc.detail)
    return f"{type(exc).__name__}: {exc}"


async def _platform_release(ctx: GateContext, env: EnvironmentPolicy) -> str | None:
    try:
        return await ctx.require_platform().current_release(env.service)
    except PlatformError:
        return None


async def _finish(
    ctx: GateContext, release: Release, status: str, *, migrations: bool | None = None, detail: str | None = None
) -> Release:
    async with ctx.sessions() as session:
        row = await ReleaseRepository(session).get(release.id)
        assert row is not None
        row.status = status
        row.finished_at = ctx.clock.now()
        if migrations is not None:
            row.ran_migrations = migrations
        if detail:
            row.detail = detail if not row.detail else f"{row.detail}; {detail}"
        await session.commit()
        return row


async def _smoke_or_roll_back(
    ctx: GateContext, env: EnvironmentPolicy, action: str, report: GateReport, release: Release
) -> FlowResult:
    smoke = await run_smoke(ctx.smoke(), env, release.release_id)
    failures = [r for r in smoke if r.status is not Status.PASS]
    if not failures:
        return FlowResult(
            action, ExitCode.PASS, f"{env.service} runs {release.release_id}", report, release, None, smoke
        )
    why = "; ".join(f"{r.name}: {r.reason}" for r in failures)
    result = FlowResult(action, ExitCode.ROLLED_BACK, "", report, release, None, smoke)
    if release.previous_release is None:
        await _finish(ctx, release, "succeeded", detail=f"smoke failed, nothing to roll back to: {why}")
        result.exit_code, result.summary = ExitCode.ROLLBACK_FAILED, f"smoke failed and no previous release: {why}"
        return result
    rollback = await _roll_back_to(
        ctx, env, release, release.previous_release, actor="gate (automatic)", reason=f"smoke failed: {why}"
    )
    result.rollback = rollback
    if rollback.status != "succeeded":
        result.exit_code = ExitCode.ROLLBACK_FAILED
        result.summary = f"smoke failed ({why}) and the rollback to {rollback.release_id} failed: {rollback.detail}"
    else:
        result.summary = f"smoke failed ({why}); rolled back to {rollback.release_id}"
    await ctx.alerts.raise_alert(
        "release.rolled_back",
        environment=env.name,
        summary=f"{env.service}: {result.summary}",
        details={
            "service": env.service,
            "bad_release": release.release_id,
            "rolled_back_to": rollback.release_id,
            "rollback_status": rollback.status,
        },
        dedup_key=f"release.rolled_back:{env.service}:{release.id}",
    )
    return result


async def _roll_back_to(
    ctx: GateContext, env: EnvironmentPolicy, bad: Release, target_id: str, *, actor: str, reason: str
) -> Release:
    """Deploy ``target_id`` over ``bad``; record both. Returns the rollback record."""
    async with ctx.sessions() as session:
        # The target may predate the ledger (what ran before its first record): say so.
        target = await _ran_record(ReleaseRepository(session), env, target_id, required=False)
        unknown = "unknown (before the ledger)"
        rollback = await ReleaseRepository(session).add(
            Release(
                app=env.app,
                environment=env.name,
                release_id=target_id,
                commit=target.commit if target else unknown,
                version_tag=target.version_tag if target else None,
                artifact_digest=target.artifact_digest if target else unknown,
                deployed_at=ctx.clock.now(),
                deployed_by=actor,
                trigger="rollback",
                status="deploying",
                previous_release=bad.release_id,
                rollback_of=bad.id,
                features=list(target.features or []) if target else [],
                ran_migrations=False,
                detail=reason,
            )
        )
        await session.commit()
    try:
        outcome = await ctx.require_platform().deploy(env.service, target_id)
    except PlatformError as exc:
        await _finish(ctx, bad, bad.status, detail=f"rollback to {target_id} failed")
        return await _finish(ctx, rollback, "failed", detail=str(exc.detail))
    except Exception as exc:
        await _finish(ctx, rollback, "failed", detail=f"the rollback stopped: {_reason(exc)}")
        raise
    await _finish(ctx, bad, "rolled_back", detail=reason)
    return await _finish(ctx, rollback, "succeeded", migrations=outcome.migrations_ran)


async def _ran_record(
    releases: ReleaseRepository, env: EnvironmentPolicy, release_id: str, *, required: bool = True
) -> Release | None:
    for record in await releases.ran(env.app, env.name, limit=ROLLBACK_HISTORY):
        if record.release_id == release_id:
            return record
    if required:
        raise NotFound(f"{release_id} never ran on {env.service}; the ledger cannot roll back to it")
    return None


async def rollback_flow(
    ctx: GateContext, app: str, environment: str, *, to: str | None, actor: str, reason: str | None
) -> FlowResult:
    """One command back to the previous (or a named) release; warns about migrations it cannot undo."""
    env = ctx.policy.environment(app, environment)
    if "rollback" not in env.triggers:
        raise BadRequest(f"the policy does not allow rollbacks on {env.service}")
    ctx.require_platform()  # before any record: without one a rollback is refused, not begun and failed
    async with _deploying(ctx, env, holder=actor, purpose=f"rollback to {to or 'previous'}"):
        async with ctx.sessions() as session:
            current, target_id, undone = await _rollback_plan(ReleaseRepository(session), env, to)
        warnings = _migration_warnings(undone, target_id)
        rollback = await _roll_back_to(
            ctx, env, current, target_id, actor=actor, reason=reason or f"manual rollback by {actor}"
        )
        if rollback.status != "succeeded":
            return FlowResult(
                "rollback",
                ExitCode.DEPLOY_FAILED,
                f"rollback failed: {rollback.detail}",
                release=current,
                rollback=rollback,
                warnings=warnings,
            )
        smoke = await run_smoke(ctx.smoke(), env, target_id)
        failing = [r for r in smoke if r.status is not Status.PASS]
        code = ExitCode.ROLLBACK_FAILED if failing else ExitCode.PASS
        summary = f"{env.service} rolled back from {current.release_id} to {target_id}"
        if failing:
            summary += "; smoke still failing: " + "; ".join(f"{r.name}: {r.reason}" for r in failing)
        return FlowResult("rollback", code, summary, None, current, rollback, smoke, warnings)


async def _rollback_plan(
    releases: ReleaseRepository, env: EnvironmentPolicy, to: str | None
) -> tuple[Release, str, list[Release]]:
    """The current record, the target release id, and the deploys being undone (newest first).

    Past the ledger's first record, the target can still be what ran before it: the release
    the platform reported when the first record was written (its ``previous_release``).
    """
    ran = list(await releases.ran(env.app, env.name, limit=ROLLBACK_HISTORY))
    if not ran:
        raise NotFound(f"nothing has run on {env.service} according to the ledger")
    current = ran[0]
    if to is not None and to == current.release_id:
        raise BadRequest(f"{env.service} already runs {to}")
    undone: list[Release] = []
    for record in ran:
        if to in (None, record.release_id) and record.release_id != current.release_id:
            return current, record.release_id, undone
        undone.append(record)
    before_ledger = ran[-1].previous_release if len(ran) < ROLLBACK_HISTORY else None
    if before_ledger and before_ledger != current.release_id and to in (None, before_ledger):
        return current, before_ledger, undone
    raise NotFound(f"{to or 'an earlier release'} never ran on {env.service}; nothing to roll back to")


def _migration_warnings(undone: list[Release], target_id: str) -> list[str]:
    return [
        f"{r.release_id} ran database migrations; rolling back to {target_id} restores the code, "
        f"not the schema: check that {target_id} works with it (or restore the database) before relying on it"
        for r in undone
        if r.ran_migrations
    ]


def _release_dict(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {
        "id": str(release.id),
        "app": release.app,
        "environment": release.environment,
        "release": release.release_id,
        "commit": release.commit,
        "artifact_digest": release.artifact_digest,
        "trigger": release.trigger,
        "status": release.status,
        "ran_migrations": release.ran_migrations,
        "previous_release": release.previous_release,
        "break_glass_reason": release.break_glass_reason,
        "deployed_by": release.deployed_by,
        "deployed_at": release.deployed_at.isoformat(),
        "detail": release.detail,
    }
