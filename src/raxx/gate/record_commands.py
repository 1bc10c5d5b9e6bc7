"""``raxx gate`` commands that record or read the ledger: freezes, incidents, attestations,
the retirement check and the board. Thin, like every gate command; ``commands`` adds them to
the ``gate`` group.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from raxx.common.cliparams import ACTOR, DURATION, LINE, REQUIRED_LINE, TEXT
from raxx.common.errors import BadRequest
from raxx.gate.command_support import COMPONENT, exit_with, run, run_as, when

if TYPE_CHECKING:
    from raxx.gate.context import GateContext


@click.command()
@click.option("--env", "environment", required=True, type=LINE)
@click.option("--app", help="only this app (default: every app in ENV)", type=LINE)
@click.option("--until", "until", help="end of the freeze, ISO 8601 (UTC if no zone)", type=LINE)
@click.option("--for", "duration", type=DURATION, help="or a duration from now: 48h, 3d")
@click.option("--from", "starts", help="start, ISO 8601 (default now)", type=LINE)
@click.option("--reason", required=True, type=REQUIRED_LINE)
@click.option("--by", type=ACTOR)
def freeze(
    environment: str,
    app: str | None,
    until: str | None,
    duration: timedelta | None,
    starts: str | None,
    reason: str,
    by: str | None,
) -> None:
    """Freeze deploys to ENV; a deploy then needs --break-glass --reason."""
    from raxx.gate.records import freeze as freeze_env

    async def body(ctx: GateContext, actor: str) -> Any:
        start = when(starts) if starts else None
        if until:
            end = when(until)
        elif duration is not None:
            if not duration:
                raise BadRequest("--for 0s freezes nothing: give how long the freeze lasts, e.g. --for 2h")
            end = (start or ctx.clock.now()) + duration
        else:
            raise BadRequest("a freeze needs --until or --for")
        return await freeze_env(
            ctx, environment=environment, until=end, reason=reason, actor=actor, app=app, starts=start
        )

    row = run_as(by, body)
    click.echo(
        f"freeze {row.id}: {row.app or 'all apps'} in {row.environment} from {row.starts_at:%Y-%m-%d %H:%M} "
        f"until {row.ends_at:%Y-%m-%d %H:%M %Z}: {row.reason}"
    )


@click.command()
@click.argument("freeze_id", type=click.UUID)
@click.option("--by", type=ACTOR)
def unfreeze(freeze_id: uuid.UUID, by: str | None) -> None:
    """Lift a freeze early."""
    from raxx.gate.records import lift_freeze

    row = run_as(by, lambda ctx, actor: lift_freeze(ctx, freeze_id, actor=actor))
    click.echo(f"freeze {row.id} lifted by {row.lifted_by}")


@click.group()
def incident() -> None:
    """Incidents: critical ones block promotions and retirement."""


@incident.command("open")
@click.option("--app", required=True, type=LINE)
@click.option("--component", required=True, type=COMPONENT)
@click.option("--severity", type=click.Choice(["critical", "major", "minor"]), required=True)
@click.option("--title", required=True, type=REQUIRED_LINE)
@click.option("--by", type=ACTOR)
def incident_open(app: str, component: str, severity: str, title: str, by: str | None) -> None:
    from raxx.gate.records import open_incident

    row = run_as(
        by,
        lambda ctx, actor: open_incident(
            ctx, app=app, component=component, severity=severity, title=title, actor=actor
        ),
    )
    click.echo(f"incident {row.id} opened: {row.severity} {row.app}/{row.component}: {row.title}")


@incident.command("close")
@click.argument("incident_id", type=click.UUID)
@click.option("--by", type=ACTOR)
def incident_close(incident_id: uuid.UUID, by: str | None) -> None:
    from raxx.gate.records import close_incident

    row = run_as(by, lambda ctx, actor: close_incident(ctx, incident_id, actor=actor))
    click.echo(f"incident {row.id} closed by {row.closed_by}")


@click.command()
@click.argument("subject", type=LINE)
@click.argument("item", type=LINE)
@click.option("--note", help="what was checked, and how", type=TEXT)
@click.option("--by", type=ACTOR)
def attest(subject: str, item: str, note: str | None, by: str | None) -> None:
    """Record that a person checked ITEM of SUBJECT's retirement checklist."""
    from raxx.gate.records import attest as attest_item

    row = run_as(by, lambda ctx, actor: attest_item(ctx, subject=subject, item=item, actor=actor, note=note))
    click.echo(f"{subject}: {row.item} attested by {row.attested_by} at {row.attested_at:%Y-%m-%d %H:%M %Z}")


@click.command("retire-check")
@click.argument("subject", type=LINE)
@click.option("--by", type=ACTOR)
@click.option("--json", "as_json", is_flag=True)
def retire_check(subject: str, by: str | None, as_json: bool) -> None:
    """Evaluate SUBJECT's retirement checklist from data; exit 0 only when every item passes."""
    from raxx.gate.render import github_report, print_json, print_table
    from raxx.gate.retire_flow import retire_check_flow

    verdict = run_as(by, lambda ctx, actor: retire_check_flow(ctx, subject, actor=actor))
    word = "ready to retire" if verdict.passed else "not ready"
    if as_json:
        print_json(
            {
                "subject": subject,
                "passed": verdict.passed,
                "decision_id": verdict.decision_id,
                "decided_at": verdict.decided_at.isoformat(),
                "items": [r.as_dict() for r in verdict.results],
            }
        )
    else:
        print_table(f"retire {subject}", verdict.results, f"{subject}: {word} (decision {verdict.decision_id})")
    github_report(f"retire {subject}", verdict.results, word)
    exit_with(verdict.exit_code)


@click.command()
@click.option("--json", "as_json", is_flag=True)
def board(as_json: bool) -> None:
    """The releases board: current/previous release, soak progress and blockers, health, freezes."""
    from raxx.gate.board import build_board, publish_board
    from raxx.gate.render import print_board, print_json

    async def body(ctx: GateContext) -> Any:
        async with ctx.sessions() as session:
            built = await build_board(session, ctx.policy, now=ctx.clock.now())
            await publish_board(session, built)
            await session.commit()
            return built

    built = run(body)
    if as_json:
        print_json(built.model_dump(mode="json"))
    else:
        print_board(built)


COMMANDS = (freeze, unfreeze, incident, attest, retire_check, board)
