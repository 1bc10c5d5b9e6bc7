"""The audit trail's background work inside a console process: checkpoints and the reconciler.

Several console instances may each run these: checkpoints are independent statements, and
one reconcile pass runs at a time across them (an advisory lock; the others skip their turn).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.alerts import Alerts
from raxx.common.clock import SystemClock
from raxx.common.logging import log_event
from raxx.console.audit.checkpoint import SIGNING_KEY_SECRET, CheckpointKeys
from raxx.console.audit.checkpointer import run_periodic_checkpoints
from raxx.console.audit.lookup import RaptorClientsLookup
from raxx.console.audit.reconciler import run_periodic_reconcile
from raxx.console.config import ConsoleSettings
from raxx.console.raptor.client import RaptorClients

log = logging.getLogger("raxx.console.audit")


def start_audit_tasks(
    engine: AsyncEngine, clients: RaptorClients, settings: ConsoleSettings, keys: CheckpointKeys, alerts: Alerts
) -> list[asyncio.Task[None]]:
    """Start the periodic checkpointer (when a signing key is configured) and the reconciler."""
    tasks = []
    signer = keys.signer()
    if signer is not None:
        interval = timedelta(minutes=settings.audit_checkpoint_minutes)
        tasks.append(asyncio.create_task(run_periodic_checkpoints(engine, signer, interval=interval)))
    else:
        log_event(
            log,
            "audit.checkpoint.disabled",
            level=logging.WARNING,
            reason=f"{SIGNING_KEY_SECRET} is not set: deletion of the newest events would go unnoticed",
        )
    after = timedelta(minutes=settings.audit_reconcile_after_minutes)
    tasks.append(
        asyncio.create_task(
            run_periodic_reconcile(
                engine,
                RaptorClientsLookup(clients),
                older_than=after,
                interval=after / 2,
                clock=SystemClock(),
                alerts=alerts,
            )
        )
    )
    return tasks
