"""The background pass: let the broker work, then sync open orders from it.

Runs in every Raptor process; the paper broker's account lock and ``SKIP LOCKED`` on
the order sync make several processes doing it at once harmless.
"""

from __future__ import annotations

import asyncio
import logging

from raxx.raptor.logctx import environment_warning
from raxx.raptor.order.service import sync_open_orders
from raxx.raptor.state import RaptorState

log = logging.getLogger("raxx.raptor.maintenance")


async def run_once(state: RaptorState) -> None:
    await state.broker.maintain()
    await sync_open_orders(state.db, state.broker, pending_grace=state.settings.pending_grace)


async def run_forever(state: RaptorState, interval: float) -> None:
    """Never dies of an error: a failed pass is logged and the next one tries again."""
    while True:
        try:
            await run_once(state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            environment_warning(log, "maintenance.pass.failed", state.settings.environment, error=type(exc).__name__)
        await asyncio.sleep(interval)
