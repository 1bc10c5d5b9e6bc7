"""Who watches the monitor: the console says when the release board has stopped being rewritten.

The monitor (``raxx monitor``) samples every deployment's health, judges soaks and raises the
``health.failing``, ``soak.failed`` and ``identity.mismatch`` alerts; it rewrites the release
board every round. A monitor that is stopped, stuck or cannot write raises nothing about
itself, and every one of those alerts falls silent with it. The console reads that board
anyway (the releases page, the Overview), so it is the one to notice: once a minute it reads
the board's age, raises ``monitor.silent`` when the board is older than the pages call stale
(``pages.releases.BOARD_STALE_AFTER_S``) and resolves it when the monitor writes again.

A console without a ledger, a board never written (a new topology) or a ledger it cannot read
(the pages say so) judges nothing: only a board that exists and has stopped moving is the
monitor's silence. Each console process checks; the outbox keeps one open alert per key.
"""

from __future__ import annotations

import logging

from raxx.common.aio import every
from raxx.common.alerts import Alerts
from raxx.console.pages.releases import BOARD_STALE_AFTER_S, board_age, read_board
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.monitor_watch")

MONITOR_SILENT_KEY = "monitor.silent"
#: How often the board's age is read: its first read comes one interval after start, by which
#: time a monitor started with the console (``raxx up``, a deploy) has rewritten it.
CHECK_EVERY_S = 60.0


async def check_the_monitor(state: ConsoleState, alerts: Alerts) -> bool | None:
    """Raise or resolve ``monitor.silent`` by the board's age; True when stale, None when there
    is no board to judge."""
    board, _ = await read_board(state)
    if board is None:
        return None
    age, stale = board_age(board)
    if not stale:
        await alerts.resolve_alert(MONITOR_SILENT_KEY)
        return False
    await alerts.raise_alert(
        "monitor.silent",
        environment=None,
        summary=f"the release board was last written {age} ago (the monitor rewrites it every round): "
        "health samples, soak verdicts and the monitor's alerts have stopped",
        details={"board_generated_at": board.generated_at.isoformat(), "stale_after_s": BOARD_STALE_AFTER_S},
        dedup_key=MONITOR_SILENT_KEY,
    )
    return True


async def watch_the_monitor(state: ConsoleState, alerts: Alerts, *, interval: float = CHECK_EVERY_S) -> None:
    """``check_the_monitor`` every ``interval`` seconds, for as long as the console runs."""
    await every(interval, lambda: check_the_monitor(state, alerts), log=log, failed="console.monitor_watch.failed")
