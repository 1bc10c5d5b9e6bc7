"""What every ``raxx gate`` command shares: settings, the context it runs in, who acts, common options."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from raxx.common.cliparams import LINE, Text
from raxx.common.errors import BadRequest
from raxx.gate.ledger import widths
from raxx.gate.verdict import ExitCode

if TYPE_CHECKING:
    from raxx.gate.config import GateSettings
    from raxx.gate.context import GateContext

T = TypeVar("T")

#: The gate's identifiers, each as wide as its ledger column and never blank.
RELEASE_ID = Text(one_line=True, max_length=widths.RELEASE_ID, blank=False)
ARTIFACT = Text(one_line=True, max_length=widths.ARTIFACT, blank=False)
TAG = Text(one_line=True, max_length=widths.TAG, blank=False)
COMPONENT = Text(one_line=True, max_length=widths.COMPONENT, blank=False)


def settings() -> GateSettings:
    from raxx.common.settings import load_settings
    from raxx.gate.config import GateSettings

    return load_settings(GateSettings)


def run(body: Callable[[GateContext], Awaitable[T]], *, monitor: bool = False) -> T:
    """Run ``body`` in a gate context (ledger, platform, policy), then deliver the alerts it queued."""
    import asyncio

    from raxx.common.dbbudget import gate_command_pools, monitor_pools
    from raxx.gate.context import open_context

    loaded = settings()
    pools = monitor_pools(loaded.budget) if monitor else gate_command_pools(loaded.budget)

    async def main() -> T:
        async with open_context(loaded, pools=pools) as ctx:
            try:
                return await body(ctx)
            finally:
                if ctx._alerts is not None and ctx._alerts.queued.is_set():
                    from raxx.common.alerts.dispatch import deliver_briefly

                    await deliver_briefly(ctx.engine)

    return asyncio.run(main())


def actor(by: str | None) -> str:
    acting = by or settings().resolved_actor()
    if not acting:
        raise BadRequest("who is acting is unknown: pass --by (or set GATE_ACTOR)")
    return acting


def run_as(by: str | None, body: Callable[[GateContext, str], Awaitable[T]]) -> T:
    """``body`` run for the person acting (``--by``, else the settings); refused when nobody is known."""
    acting = actor(by)
    return run(lambda ctx: body(ctx, acting))


def github_trigger() -> tuple[str | None, str | None]:
    """The trigger and tag GitHub Actions ran us for, when it did."""
    event = os.environ.get("GITHUB_EVENT_NAME")
    if event == "workflow_dispatch":
        return "dispatch", None
    if event == "push" and os.environ.get("GITHUB_REF_TYPE") == "tag":
        from raxx.common.storable import one_line_variable  # pydantic: not for --help

        return "tag", one_line_variable("GITHUB_REF_NAME", os.environ.get("GITHUB_REF_NAME"), max_length=widths.TAG)
    if event == "push":
        return "push", None
    return None, None


def when(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{value!r} is not an ISO 8601 time such as 2026-12-24T09:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def exit_with(code: ExitCode) -> None:
    sys.exit(int(code))


release_options = [
    click.option("--app", required=True, type=LINE),
    click.option("--env", "environment", required=True, type=LINE),
    click.option(
        "--release", "release_id", required=True, help="the release id (what identity reports)", type=RELEASE_ID
    ),
]


def with_options(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate
