"""A halt in a protected environment wakes someone, wherever it was made.

The console raises ``trading.halted`` when an operator halts prod through it, and resolves it
when they resume. But Raptor's switch has other callers: a token with ``admin`` scope
(``POST /v1/trading/halt`` from a script, an incident tool, ``curl``), and a resume made that
way. Neither went through the console, so a prod halt could stand with nobody paged, or a
page stay open for trading long since resumed.

So every console process asks each protected environment's Raptor for its switch
(``GET /v1/trading``) every ``CHECK_EVERY_S``: halted, it raises ``trading.halted`` under the
same dedup key as the console's own halt (the outbox keeps one open alert per key, so a halt
made here is not paged twice); running, it resolves it. A Raptor that does not answer, or
answers as another environment, judges nothing here: ``health.failing`` and
``identity.mismatch`` say so. A look that races an operator (a resume through the console
between the watch's read and its raise, or a halt between its read and its resolve) leaves the
alert as the operator's action set it: the outbox skips a raise or resolve that is older than
the other side's (``unless_resolved_since`` / ``unless_raised_since``).
"""

from __future__ import annotations

import logging
import uuid

from raxx.common.aio import every
from raxx.common.alerts import Alerts
from raxx.common.clock import utcnow
from raxx.common.contracts.trading import TradingStateRead
from raxx.common.environments import EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.console.operations.service import halt_alert_key
from raxx.console.raptor.client import CallContext
from raxx.console.raptor.trading_api import TradingClient
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.halt_watch")

#: How often each protected environment's switch is read: a halt made outside the console
#: pages within this long.
CHECK_EVERY_S = 30.0
WATCHER = "console:halt-watch"


async def check_halts(state: ConsoleState, alerts: Alerts) -> dict[str, bool | None]:
    """Raise or resolve ``trading.halted`` for each protected environment by what its Raptor
    says: environment -> halted (None: Raptor did not say)."""
    seen: dict[str, bool | None] = {}
    for spec in state.registry.values():
        if spec.protected:
            seen[spec.name] = await _check(state, alerts, spec)
    return seen


async def _check(state: ConsoleState, alerts: Alerts, spec: EnvironmentSpec) -> bool | None:
    client = TradingClient(state.clients[spec.name], CallContext(request_id=uuid.uuid4().hex, actor=WATCHER))
    asked_at = utcnow()  # an operator's halt or resume recorded after this saw a newer switch than we do
    try:
        switch = await client.trading_state()
    except RaxxError as exc:  # unreachable, refused, another environment: other alerts say so
        log_event(log, "console.halt_watch.unanswered", level=logging.INFO, environment=spec.name, error=exc.code)
        return None
    if not switch.halted:
        await alerts.resolve_alert(halt_alert_key(spec), unless_raised_since=asked_at)
        return False
    await alerts.raise_alert(
        "trading.halted",
        environment=spec.name,
        summary=f"trading is halted in {spec.name} since {switch.changed_at:%Y-%m-%d %H:%M:%S} UTC "
        f"by {_who(switch)}: {switch.reason or 'no reason given'}",
        details={
            "by": switch.actor,
            "token_id": switch.token_id,
            "reason": switch.reason,
            "request_id": switch.request_id,
            "since": switch.changed_at.isoformat(),
            "seen_by": WATCHER,
        },
        dedup_key=halt_alert_key(spec),
        unless_resolved_since=asked_at,
    )
    return True


def _who(switch: TradingStateRead) -> str:
    return switch.actor or (f"token {switch.token_id}" if switch.token_id else "unknown")


async def watch_halts(state: ConsoleState, alerts: Alerts, *, interval: float = CHECK_EVERY_S) -> None:
    """``check_halts`` every ``interval`` seconds, for as long as the console runs."""
    await every(interval, lambda: check_halts(state, alerts), log=log, failed="console.halt_watch.failed")
