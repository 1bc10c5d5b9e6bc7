"""``raxx monitor``: the long-running process beside the apps (probes, alerts, console requests)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from raxx.gate.command_support import run
from raxx.gate.command_support import settings as gate_settings

if TYPE_CHECKING:
    from raxx.gate.context import GateContext


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

    settings = gate_settings()
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
            alerts=MonitorAlerts(
                outbox,
                dispatcher,
                failures_to_alert=settings.alert_health_failures,
                interval_s=settings.monitor_interval,
            ),
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

    run(body, monitor=True)
