"""Release actions asked for from the console (``release_request``), carried out by the gate.

The console and the gate are separate deployables: the console may not import the gate, and
holds neither the gate's ledger write rights beyond this table nor any platform credential.
So the console writes what a release owner asked for, and this runner (started beside the
monitor by ``raxx monitor``) claims each pending request and calls **the same
functions as the CLI**: :func:`raxx.gate.records.approve` (``raxx gate approve``),
:func:`raxx.gate.flows.promote_flow` (``raxx gate promote``) and
:func:`raxx.gate.flows.rollback_flow` (``raxx gate rollback``). The rules (no approving
one's own deployment, the soak, approvals, freezes, locks) live there only; a refusal comes
back on the row with the gate's own code and words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import select

from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.gate.checks.gate import GateRequest
from raxx.gate.context import GateContext
from raxx.gate.flows import FlowResult, promote_flow, rollback_flow
from raxx.gate.ledger.models import ReleaseRequest
from raxx.gate.records import approval_notice, approve
from raxx.gate.verdict import ExitCode, Status

log = logging.getLogger("raxx.gate.requests")
#: The trigger a promotion from the console carries: a person asked for it, by hand.
CONSOLE_TRIGGER = "dispatch"


async def claim(ctx: GateContext) -> ReleaseRequest | None:
    """The oldest pending request, marked running (committed), or None. Two runners never
    claim the same one (SKIP LOCKED)."""
    async with ctx.sessions() as session:
        stmt = (
            select(ReleaseRequest)
            .where(ReleaseRequest.status == "pending")
            .order_by(ReleaseRequest.requested_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        request = (await session.execute(stmt)).scalar_one_or_none()
        if request is None:
            return None
        request.status, request.started_at = "running", ctx.clock.now()
        await session.commit()
        session.expunge(request)
        return request


async def carry_out(ctx: GateContext, request: ReleaseRequest) -> dict[str, Any]:
    """Run one request through the CLI's own function; return the row's outcome fields."""
    try:
        if request.action == "approve":
            assert request.release_id is not None  # a check constraint
            row = await approve(
                ctx,
                app=request.app,
                environment=request.environment,
                release_id=request.release_id,
                approver=request.actor,
                comment=request.note,
            )
            summary = f"approved {row.release_id} for {request.app}-{request.environment} by {row.approved_by}"
            return _outcome("done", ExitCode.PASS, None, f"{summary}. {approval_notice(row)}", None)
        if request.action == "promote":
            assert request.release_id is not None
            gate_request = GateRequest(
                app=request.app,
                environment=request.environment,
                release_id=request.release_id,
                trigger=CONSOLE_TRIGGER,
                actor=request.actor,
            )
            return _flow(await promote_flow(ctx, gate_request))
        flow = await rollback_flow(
            ctx, request.app, request.environment, to=request.release_id, actor=request.actor, reason=request.note
        )
        return _flow(flow)
    except RaxxError as exc:  # a refusal, in the gate's own words (what the CLI prints)
        return _outcome("refused", None, exc.code, str(exc.detail), None)
    except Exception as exc:  # recorded on the row: the runner carries on with the next request
        return _outcome("failed", None, type(exc).__name__, str(exc), None)


#: Flows that stopped before changing anything: the gate said no. Any other end that is not a
#: pass changed something and went wrong (a deploy failed, smoke failed and it was rolled back, a
#: rollback ran but smoke still fails): "failed", never "refused", which reads as nothing done.
_REFUSALS = (ExitCode.BLOCKED, ExitCode.CANNOT_DECIDE)


def _status_of(code: ExitCode) -> str:
    if code is ExitCode.PASS:
        return "done"
    return "refused" if code in _REFUSALS else "failed"


def _flow(result: FlowResult) -> dict[str, Any]:
    status = _status_of(result.exit_code)
    failing = [r for r in result.report.results if r.status is not Status.PASS] if result.report is not None else []
    reasons = [f"{r.name}: {r.reason}" for r in failing]
    detail = result.summary + ("".join(f"\n- {r}" for r in reasons) if status == "refused" else "")
    return _outcome(status, result.exit_code, result.exit_code.name.lower(), detail, result.as_dict())


def _outcome(
    status: str, exit_code: ExitCode | None, code: str | None, detail: str, result: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "status": status,
        "exit_code": int(exit_code) if exit_code is not None else None,
        "code": code,
        "detail": detail,
        "result": result,
    }


async def run_one(ctx: GateContext) -> ReleaseRequest | None:
    """Claim and carry out one pending request; None when there was none."""
    request = await claim(ctx)
    if request is None:
        return None
    outcome = await carry_out(ctx, request)
    async with ctx.sessions() as session:
        row = await session.get(ReleaseRequest, request.id)
        assert row is not None
        for key, value in outcome.items():
            setattr(row, key, value)
        row.finished_at = ctx.clock.now()
        await session.commit()
    log_event(
        log,
        f"gate.request.{outcome['status']}",
        action=request.action,
        app=request.app,
        environment=request.environment,
        release=request.release_id,
        actor=request.actor,
    )
    return request


async def run(ctx: GateContext, stop: asyncio.Event, *, interval: float = 1.0) -> int:
    """Carry out requests as they come until ``stop``; return how many were carried out."""
    done = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            while await run_one(ctx) is not None:
                done += 1
        except Exception as exc:  # the ledger being down must not stop the runner
            log_event(log, "gate.request.poll.failed", level=logging.ERROR, error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.05, interval - (time.monotonic() - started)))
    return done
