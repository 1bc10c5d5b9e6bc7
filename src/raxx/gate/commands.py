"""``raxx gate ...`` and ``raxx monitor``. Thin: parse, call one flow, render, exit with its code."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import click

from raxx.common.cliparams import DURATION
from raxx.common.errors import BadRequest
from raxx.gate.verdict import VERDICT_WORDS, ExitCode

if TYPE_CHECKING:
    from raxx.gate.config import GateSettings
    from raxx.gate.context import GateContext

T = TypeVar("T")


def _settings() -> GateSettings:
    from raxx.common.settings import load_settings
    from raxx.gate.config import GateSettings

    return load_settings(GateSettings)


def _run(body: Callable[[GateContext], Awaitable[T]], *, monitor: bool = False) -> T:
    import asyncio

    from raxx.common.dbbudget import gate_command_pools, monitor_pools
    from raxx.gate.context import open_context

    settings = _settings()
    pools = monitor_pools(settings.budget) if monitor else gate_command_pools(settings.budget)

    async def main() -> T:
        async with open_context(settings, pools=pools) as ctx:
            try:
                return await body(ctx)
            finally:
                if ctx._alerts is not None and ctx._alerts.queued.is_set():
                    from raxx.common.alerts.dispatch import deliver_briefly

                    await deliver_briefly(ctx.engine)

    return asyncio.run(main())


def _actor(by: str | None) -> str:
    actor = by or _settings().resolved_actor()
    if not actor:
        raise BadRequest("who is acting is unknown: pass --by (or set GATE_ACTOR)")
    return actor


def _github_trigger() -> tuple[str | None, str | None]:
    """The trigger and tag GitHub Actions ran us for, when it did."""
    event = os.environ.get("GITHUB_EVENT_NAME")
    if event == "workflow_dispatch":
        return "dispatch", None
    if event == "push" and os.environ.get("GITHUB_REF_TYPE") == "tag":
        return "tag", os.environ.get("GITHUB_REF_NAME")
    if event == "push":
        return "push", None
    return None, None


def _when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{value!r} is not an ISO 8601 time such as 2026-12-24T09:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _exit(code: ExitCode) -> None:
    sys.exit(int(code))


release_options = [
    click.option("--app", required=True),
    click.option("--env", "environment", required=True),
    click.option("--release", "release_id", required=True, help="the release id (what identity reports)"),
]


def _with(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@click.group()
def gate() -> None:
    """The release gate: checks, deploys, promotions, rollbacks, freezes, retirement."""


@gate.command()
@_with(release_options)
@click.option("--trigger", type=click.Choice(["push", "dispatch", "tag", "rollback", "break_glass"]))
@click.option("--tag", help="the version tag (trigger tag)")
@click.option("--commit", help="the commit CI expects the release to be (GITHUB_SHA)")
@click.option("--artifact", help="artifact digest (direct deploys)")
@click.option("--by", help="who triggers the deploy (default GATE_ACTOR, GITHUB_ACTOR, USER)")
@click.option("--json", "as_json", is_flag=True)
def check(
    app: str,
    environment: str,
    release_id: str,
    trigger: str | None,
    tag: str | None,
    commit: str | None,
    artifact: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Every condition for deploying RELEASE, pass/fail with a reason. Exit 0 pass, 3 blocked, 4 cannot decide."""
    from raxx.gate.checks.gate import GateRequest
    from raxx.gate.flows import check_flow
    from raxx.gate.render import github_report, print_json, print_table

    gh_trigger, gh_tag = _github_trigger()
    request = GateRequest(
        app=app,
        environment=environment,
        release_id=release_id,
        trigger=trigger or gh_trigger,
        tag=tag or gh_tag,
        commit=commit,
        artifact_digest=artifact,
        actor=by or _settings().resolved_actor(),
    )
    report = _run(lambda ctx: check_flow(ctx, request))
    title = f"gate {app}-{environment} {release_id}"
    if as_json:
        print_json(report.as_dict())
    else:
        print_table(title, report.results, f"verdict: {report.verdict} (exit {int(report.exit_code)})")
    github_report(title, report.results, report.verdict)
    _exit(report.exit_code)


def _deploy_command(name: str, help_text: str) -> Callable[[Any], Any]:
    options = [
        *release_options,
        click.option("--trigger", type=click.Choice(["push", "dispatch", "tag"])),
        click.option("--tag"),
        click.option("--commit"),
        click.option("--by"),
        click.option("--break-glass", is_flag=True, help="deploy through a freeze (needs --reason; recorded, flagged)"),
        click.option("--reason", help="why the glass is broken"),
        click.option("--json", "as_json", is_flag=True),
    ]
    return lambda f: gate.command(name=name, help=help_text)(_with(options)(f))


def _request(
    app: str,
    environment: str,
    release_id: str,
    trigger: str | None,
    tag: str | None,
    commit: str | None,
    by: str | None,
    break_glass: bool,
    reason: str | None,
    artifact: str | None = None,
) -> Any:
    from raxx.gate.checks.gate import GateRequest

    if break_glass and not (reason and reason.strip()):
        raise BadRequest("--break-glass needs --reason")
    gh_trigger, gh_tag = _github_trigger()
    return GateRequest(
        app=app,
        environment=environment,
        release_id=release_id,
        trigger=trigger or gh_trigger,
        tag=tag or gh_tag,
        commit=commit,
        artifact_digest=artifact,
        actor=_actor(by),
        break_glass_reason=reason.strip() if break_glass and reason else None,
    )


def _render_flow(result: Any, as_json: bool) -> None:
    from raxx.gate.render import console, github_report, print_json, print_table

    if as_json:
        print_json(result.as_dict())
        _exit(result.exit_code)
    if result.report is not None:
        print_table(f"gate {result.action}", result.report.results, f"gate: {result.report.verdict}")
        github_report(f"gate {result.action}", result.report.results, result.report.verdict)
    if result.smoke:
        print_table("smoke checks", result.smoke, "")
        github_report("smoke", result.smoke, VERDICT_WORDS[result.exit_code])
    for warning in result.warnings:
        console().print(f"[yellow]warning:[/] {warning}")
    console().print(f"{result.action}: {result.summary} (exit {int(result.exit_code)})")
    _exit(result.exit_code)


@_deploy_command(
    "promote", "Promote RELEASE, the one that soaked, after checking the gate; smoke; roll back on failure."
)
def promote(
    app: str,
    environment: str,
    release_id: str,
    trigger: str | None,
    tag: str | None,
    commit: str | None,
    by: str | None,
    break_glass: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    from raxx.gate.flows import promote_flow

    request = _request(app, environment, release_id, trigger, tag, commit, by, break_glass, reason)
    _render_flow(_run(lambda ctx: promote_flow(ctx, request)), as_json)


@gate.command()
@_with(release_options)
@click.option("--commit", required=True, help="the commit the release was built from")
@click.option("--artifact", required=True, help="the artifact digest (slug id, image digest)")
@click.option("--trigger", type=click.Choice(["push", "dispatch", "tag"]))
@click.option("--tag")
@click.option("--feature", "features", multiple=True, help="a feature this release carries (e.g. env-switcher)")
@click.option("--by")
@click.option("--break-glass", is_flag=True)
@click.option("--reason")
@click.option("--json", "as_json", is_flag=True)
def deploy(
    app: str,
    environment: str,
    release_id: str,
    commit: str,
    artifact: str,
    trigger: str | None,
    tag: str | None,
    features: tuple[str, ...],
    by: str | None,
    break_glass: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Deploy a build to an environment without a soak rule (Raptor staging, console prod)."""
    from raxx.gate.flows import deploy_flow

    request = _request(app, environment, release_id, trigger, tag, commit, by, break_glass, reason, artifact)
    _render_flow(_run(lambda ctx: deploy_flow(ctx, request, features=features)), as_json)


@gate.command()
@click.option("--app", required=True)
@click.option("--env", "environment", required=True)
@click.option("--to", "to", help="the release to go back to (default: the previous one)")
@click.option("--by")
@click.option("--reason")
@click.option("--json", "as_json", is_flag=True)
def rollback(app: str, environment: str, to: str | None, by: str | None, reason: str | None, as_json: bool) -> None:
    """Go back to the previous (or --to) release; warns when the undone release ran migrations."""
    from raxx.gate.flows import rollback_flow

    actor = _actor(by)
    _render_flow(_run(lambda ctx: rollback_flow(ctx, app, environment, to=to, actor=actor, reason=reason)), as_json)


@gate.command()
@_with(release_options)
@click.option("--by", help="the approver")
@click.option("--comment")
def approve(app: str, environment: str, release_id: str, by: str | None, comment: str | None) -> None:
    """Approve RELEASE for ENV (bound to its commit, artifact and current stint on the soak environment)."""
    from raxx.gate.records import approval_notice
    from raxx.gate.records import approve as approve_release

    actor = _actor(by)
    row = _run(
        lambda ctx: approve_release(
            ctx, app=app, environment=environment, release_id=release_id, approver=actor, comment=comment
        )
    )
    click.echo(
        f"approved {row.release_id} (commit {row.commit[:12]}, artifact {row.artifact_digest}) "
        f"for {app}-{environment} by {row.approved_by}"
    )
    click.echo(approval_notice(row))


@gate.command()
@click.option("--env", "environment", required=True)
@click.option("--app", help="only this app (default: every app in ENV)")
@click.option("--until", "until", help="end of the freeze, ISO 8601 (UTC if no zone)")
@click.option("--for", "duration", type=DURATION, help="or a duration from now: 48h, 3d")
@click.option("--from", "starts", help="start, ISO 8601 (default now)")
@click.option("--reason", required=True)
@click.option("--by")
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

    actor = _actor(by)

    async def body(ctx: GateContext) -> Any:
        start = _when(starts) if starts else None
        if until:
            end = _when(until)
        elif duration:
            end = (start or ctx.clock.now()) + duration
        else:
            raise BadRequest("a freeze needs --until or --for")
        return await freeze_env(
            ctx, environment=environment, until=end, reason=reason, actor=actor, app=app, starts=start
        )

    row = _run(body)
    click.echo(
        f"freeze {row.id}: {row.app or 'all apps'} in {row.environment} from {row.starts_at:%Y-%m-%d %H:%M} "
        f"until {row.ends_at:%Y-%m-%d %H:%M %Z}: {row.reason}"
    )


@gate.command()
@click.argument("freeze_id", type=click.UUID)
@click.option("--by")
def unfreeze(freeze_id: uuid.UUID, by: str | None) -> None:
    """Lift a freeze early."""
    from raxx.gate.records import lift_freeze

    actor = _actor(by)
    row = _run(lambda ctx: lift_freeze(ctx, freeze_id, actor=actor))
    click.echo(f"freeze {row.id} lifted by {row.lifted_by}")


@gate.group()
def incident() -> None:
    """Incidents: critical ones block promotions and retirement."""


@incident.command("open")
@click.option("--app", required=True)
@click.option("--component", required=True)
@click.option("--severity", type=click.Choice(["critical", "major", "minor"]), required=True)
@click.option("--title", required=True)
@click.option("--by")
def incident_open(app: str, component: str, severity: str, title: str, by: str | None) -> None:
    from raxx.gate.records import open_incident

    actor = _actor(by)
    row = _run(
        lambda ctx: open_incident(ctx, app=app, component=component, severity=severity, title=title, actor=actor)
    )
    click.echo(f"incident {row.id} opened: {row.severity} {row.app}/{row.component}: {row.title}")


@incident.command("close")
@click.argument("incident_id", type=click.UUID)
@click.option("--by")
def incident_close(incident_id: uuid.UUID, by: str | None) -> None:
    from raxx.gate.records import close_incident

    actor = _actor(by)
    row = _run(lambda ctx: close_incident(ctx, incident_id, actor=actor))
    click.echo(f"incident {row.id} closed by {row.closed_by}")


@gate.command()
@click.argument("subject")
@click.argument("item")
@click.option("--note", help="what was checked, and how")
@click.option("--by")
def attest(subject: str, item: str, note: str | None, by: str | None) -> None:
    """Record that a person checked ITEM of SUBJECT's retirement checklist."""
    from raxx.gate.records import attest as attest_item

    actor = _actor(by)
    row = _run(lambda ctx: attest_item(ctx, subject=subject, item=item, actor=actor, note=note))
    click.echo(f"{subject}: {row.item} attested by {row.attested_by} at {row.attested_at:%Y-%m-%d %H:%M %Z}")


@gate.command("retire-check")
@click.argument("subject")
@click.option("--by")
@click.option("--json", "as_json", is_flag=True)
def retire_check(subject: str, by: str | None, as_json: bool) -> None:
    """Evaluate SUBJECT's retirement checklist from data; exit 0 only when every item passes."""
    from raxx.gate.render import github_report, print_json, print_table
    from raxx.gate.retire_flow import retire_check_flow

    actor = _actor(by)
    verdict = _run(lambda ctx: retire_check_flow(ctx, subject, actor=actor))
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
    _exit(verdict.exit_code)


@gate.command()
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

    built = _run(body)
    if as_json:
        print_json(built.model_dump(mode="json"))
    else:
        print_board(built)


@click.command()
@click.option("--once", is_flag=True, help="poll every deployment once and exit")
def monitor(once: bool) -> None:
    """Poll every deployment's readiness and identity every GATE_MONITOR_INTERVAL seconds, and
    carry out the release actions asked for from the console."""
    import asyncio
    import contextlib

    from raxx.common.alerts import AlertDispatcher, Alerts
    from raxx.common.alerts.dispatch import deliver_briefly
    from raxx.common.logging import configure_logging
    from raxx.gate import requests as release_requests
    from raxx.gate.metrics import serving_metrics
    from raxx.gate.monitor import Monitor, install_stop_signals
    from raxx.gate.monitor_alerts import MonitorAlerts

    settings = _settings()
    configure_logging(settings.log_level)

    async def body(ctx: GateContext) -> None:
        outbox = Alerts(ctx.engine, source="monitor")
        dispatcher = AlertDispatcher(ctx.engine)
        watcher = Monitor(
            policy=ctx.policy,
            locator=ctx.locator,
            sessions=ctx.sessions,
            http=ctx.http,
            clock=ctx.clock,
            timeout=settings.http_timeout,
            start_grace=settings.monitor_start_grace,
            deploy_timeout=settings.deploy_timeout,
            alerts=MonitorAlerts(outbox, dispatcher, failures_to_alert=settings.alert_health_failures),
            summary_every=timedelta(minutes=settings.monitor_summary_minutes),
        )
        if once:
            for probe in await watcher.poll_once():
                word = "ok" if probe.ok else "starting" if probe.starting else "FAIL"
                click.echo(f"{probe.deployment}: {word} {probe.release_seen or '-'} {probe.reason or ''}".rstrip())
            await deliver_briefly(ctx.engine)  # what this round raised; never fails the command
            return
        stop = asyncio.Event()
        install_stop_signals(stop)
        # The ledger's outbox: the monitor's alerts and the gate commands' (a rollback's).
        sending = asyncio.create_task(dispatcher.run(outbox.queued))
        try:
            # Beside the probes: the release actions the console asked for (``raxx.gate.requests``).
            async with serving_metrics(settings, ctx.sessions):
                await asyncio.gather(
                    watcher.run(stop, interval=settings.monitor_interval), release_requests.run(ctx, stop)
                )
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending

    _run(body, monitor=True)
