"""``raxx gate ...``. Thin: parse, call one flow, render, exit with its code.

The release commands (check, deploy, promote, rollback, approve) live here; the ledger's
records (freezes, incidents, attestations, retirement, the board) in ``record_commands``;
``raxx monitor`` in ``monitor_command``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from raxx.common.cliparams import ACTOR, COMMIT, LINE, TEXT
from raxx.common.errors import BadRequest
from raxx.gate.command_support import (
    ARTIFACT,
    RELEASE_ID,
    TAG,
    actor,
    exit_with,
    github_trigger,
    release_options,
    run,
    run_as,
    settings,
    with_options,
)
from raxx.gate.record_commands import COMMANDS as RECORD_COMMANDS
from raxx.gate.verdict import VERDICT_WORDS

if TYPE_CHECKING:
    from raxx.gate.checks.gate import GateRequest


@click.group()
def gate() -> None:
    """The release gate: checks, deploys, promotions, rollbacks, freezes, retirement."""


@gate.command()
@with_options(release_options)
@click.option("--trigger", type=click.Choice(["push", "dispatch", "tag", "rollback", "break_glass"]))
@click.option("--tag", help="the version tag (trigger tag)", type=TAG)
@click.option("--commit", help="the commit CI expects the release to be (GITHUB_SHA)", type=COMMIT)
@click.option("--artifact", help="artifact digest (direct deploys)", type=ARTIFACT)
@click.option("--by", help="who triggers the deploy (default GATE_ACTOR, GITHUB_ACTOR, USER)", type=ACTOR)
@click.option("--json", "as_json", is_flag=True)
def check(by: str | None, as_json: bool, **options: Any) -> None:
    """Every condition for deploying RELEASE, pass/fail with a reason. Exit 0 pass, 3 blocked, 4 cannot decide."""
    from raxx.gate.flows import check_flow
    from raxx.gate.render import github_report, print_json, print_table

    acting = by or settings().resolved_actor()  # checking needs nobody: unknown is allowed here
    request = _request(**options, actor=acting)
    report = run(lambda ctx: check_flow(ctx, request))
    title = f"gate {request.app}-{request.environment} {request.release_id}"
    if as_json:
        print_json(report.as_dict())
    else:
        print_table(title, report.results, f"verdict: {report.verdict} (exit {int(report.exit_code)})")
    github_report(title, report.results, report.verdict)
    exit_with(report.exit_code)


def _deploy_command(name: str, help_text: str) -> Callable[[Any], Any]:
    options = [
        *release_options,
        click.option("--trigger", type=click.Choice(["push", "dispatch", "tag"])),
        click.option("--tag", type=TAG),
        click.option("--commit", type=COMMIT),
        click.option("--by", type=ACTOR),
        click.option("--break-glass", is_flag=True, help="deploy through a freeze (needs --reason; recorded, flagged)"),
        click.option("--reason", help="why the glass is broken", type=LINE),
        click.option("--json", "as_json", is_flag=True),
    ]
    return lambda f: gate.command(name=name, help=help_text)(with_options(options)(f))


def _request(
    *,
    app: str,
    environment: str,
    release_id: str,
    trigger: str | None,
    tag: str | None,
    commit: str | None,
    actor: str | None,
    artifact: str | None = None,
    break_glass_reason: str | None = None,
) -> GateRequest:
    """The gate request, with the trigger and tag of the GitHub Actions run where none is given."""
    from raxx.gate.checks.gate import GateRequest

    gh_trigger, gh_tag = github_trigger()
    return GateRequest(
        app=app,
        environment=environment,
        release_id=release_id,
        trigger=trigger or gh_trigger,
        tag=tag or gh_tag,
        commit=commit,
        artifact_digest=artifact,
        actor=actor,
        break_glass_reason=break_glass_reason,
    )


def _deploy_request(*, by: str | None, break_glass: bool, reason: str | None, **options: Any) -> GateRequest:
    """A request that deploys (``promote``'s and ``deploy``'s options): someone known acts, and
    breaking the glass says why."""
    if break_glass and not (reason and reason.strip()):
        raise BadRequest("--break-glass needs --reason")
    glass = reason.strip() if break_glass and reason else None
    return _request(**options, actor=actor(by), break_glass_reason=glass)


def _render_flow(result: Any, as_json: bool) -> None:
    from raxx.gate.render import console, github_report, print_json, print_table

    if as_json:
        print_json(result.as_dict())
        exit_with(result.exit_code)
    if result.report is not None:
        print_table(f"gate {result.action}", result.report.results, f"gate: {result.report.verdict}")
        github_report(f"gate {result.action}", result.report.results, result.report.verdict)
    if result.smoke:
        print_table("smoke checks", result.smoke, "")
        github_report("smoke", result.smoke, VERDICT_WORDS[result.exit_code])
    for warning in result.warnings:
        console().print(f"[yellow]warning:[/] {warning}")
    console().print(f"{result.action}: {result.summary} (exit {int(result.exit_code)})")
    exit_with(result.exit_code)


@_deploy_command(
    "promote", "Promote RELEASE, the one that soaked, after checking the gate; smoke; roll back on failure."
)
def promote(as_json: bool, **options: Any) -> None:
    from raxx.gate.flows import promote_flow

    request = _deploy_request(**options)
    _render_flow(run(lambda ctx: promote_flow(ctx, request)), as_json)


@gate.command()
@with_options(release_options)
@click.option("--commit", required=True, help="the commit the release was built from", type=COMMIT)
@click.option("--artifact", required=True, help="the artifact digest (slug id, image digest)", type=ARTIFACT)
@click.option("--trigger", type=click.Choice(["push", "dispatch", "tag"]))
@click.option("--tag", type=TAG)
@click.option(
    "--feature", "features", multiple=True, help="a feature this release carries (e.g. env-switcher)", type=LINE
)
@click.option("--by", type=ACTOR)
@click.option("--break-glass", is_flag=True)
@click.option("--reason", type=LINE)
@click.option("--json", "as_json", is_flag=True)
def deploy(features: tuple[str, ...], as_json: bool, **options: Any) -> None:
    """Deploy a build to an environment without a soak rule (Raptor staging, console prod)."""
    from raxx.gate.flows import deploy_flow

    request = _deploy_request(**options)
    _render_flow(run(lambda ctx: deploy_flow(ctx, request, features=features)), as_json)


@gate.command()
@click.option("--app", required=True, type=LINE)
@click.option("--env", "environment", required=True, type=LINE)
@click.option("--to", "to", help="the release to go back to (default: the previous one)", type=RELEASE_ID)
@click.option("--by", type=ACTOR)
@click.option("--reason", type=LINE)
@click.option("--json", "as_json", is_flag=True)
def rollback(app: str, environment: str, to: str | None, by: str | None, reason: str | None, as_json: bool) -> None:
    """Go back to the previous (or --to) release; warns when the undone release ran migrations."""
    from raxx.gate.flows import rollback_flow

    result = run_as(by, lambda ctx, acting: rollback_flow(ctx, app, environment, to=to, actor=acting, reason=reason))
    _render_flow(result, as_json)


@gate.command()
@with_options(release_options)
@click.option("--by", help="the approver", type=ACTOR)
@click.option("--comment", type=TEXT)
def approve(app: str, environment: str, release_id: str, by: str | None, comment: str | None) -> None:
    """Approve RELEASE for ENV (bound to its commit, artifact and current stint on the soak environment)."""
    from raxx.gate.records import approval_notice
    from raxx.gate.records import approve as approve_release

    row = run_as(
        by,
        lambda ctx, acting: approve_release(
            ctx, app=app, environment=environment, release_id=release_id, approver=acting, comment=comment
        ),
    )
    click.echo(
        f"approved {row.release_id} (commit {row.commit[:12]}, artifact {row.artifact_digest}) "
        f"for {app}-{environment} by {row.approved_by}"
    )
    click.echo(approval_notice(row))


for _command in RECORD_COMMANDS:
    gate.add_command(_command)
