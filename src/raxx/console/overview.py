"""The Overview's numbers for one environment: one query per panel, the panels at once.

Each panel is read on its own and fails on its own: a Raptor that cannot answer shows its
error in the orders, halt and buying power panels while the release and audit panels still
show theirs. Nothing here caches: the numbers are as of the page, except the release panel's,
which are the monitor's board as of its writing (the panel says how old, and when it is stale).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from raxx.common.contracts.board import BoardDeployment
from raxx.common.contracts.trading import AccountRead, OrderSummary, TradingStateRead
from raxx.common.environments import EnvironmentSpec
from raxx.console.audit import repository as audit_repository
from raxx.console.audit.repository import EventRecord
from raxx.console.pages.guard import backend_read
from raxx.console.pages.releases import board_age, read_board
from raxx.console.raptor.identity import IdentityStatus
from raxx.console.raptor.trading_api import TradingClient
from raxx.console.state import ConsoleState

T = TypeVar("T")


@dataclass(frozen=True)
class Panel(Generic[T]):
    """A panel's value, or the sentence that says why it has none."""

    value: T | None
    problem: str | None = None
    #: A value not read live (the release board): how old it is, and whether too old to trust.
    age: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class Overview:
    orders: Panel[OrderSummary]
    trading: Panel[TradingStateRead]
    account: Panel[AccountRead]
    releases: Panel[list[BoardDeployment]]
    identity: IdentityStatus
    last_event: Panel[EventRecord]


async def _raptor(work: Awaitable[T]) -> Panel[T]:
    value, error = await backend_read(work)
    return Panel(value, None if error is None else str(error.detail))


async def _releases(state: ConsoleState, spec: EnvironmentSpec) -> Panel[list[BoardDeployment]]:
    board, problem = await read_board(state)
    if board is None:
        return Panel(None, problem)
    age, stale = board_age(board)
    return Panel([d for d in board.deployments if d.environment == spec.name], age=age, stale=stale)


async def _last_event(state: ConsoleState, spec: EnvironmentSpec, *, may_audit: bool) -> Panel[EventRecord]:
    if not may_audit:
        return Panel(None, "Shown to auditors and admins of this environment.")
    async with state.audit.engine.connect() as conn:
        return Panel(await audit_repository.latest_event_in(conn, spec.name), None)


async def read_overview(
    state: ConsoleState, spec: EnvironmentSpec, client: TradingClient, *, may_audit: bool
) -> Overview:
    """Every panel of ``spec``'s Overview, read concurrently."""
    identity = await state.clients[spec.name].check_identity()
    results: tuple[Any, ...] = await asyncio.gather(
        _raptor(client.order_summary()),
        _raptor(client.trading_state()),
        _raptor(client.account()),
        _releases(state, spec),
        _last_event(state, spec, may_audit=may_audit),
    )
    orders, trading, account, releases, last_event = results
    return Overview(orders, trading, account, releases, identity, last_event)
