"""What the paper venue sends to PostgreSQL: its placement calls and its reads and writes.

Placement is one call of a PL/pgSQL function, for speed: the account row is the venue's
lock, and held across several round trips (under load, across event-loop turns of a busy
process too) every order queued behind it (measured: throughput fell as connections
rose). As one call in autocommit, the row is locked only while PostgreSQL runs it.
Two functions place orders, both defined in Raptor's migrations:

* ``raptor_paper_place`` (``PLACE_ORDER``): the venue's own placement, one order, settled by
  ``raptor_paper_settle`` (``venue.PaperBroker.submit``);
* ``raptor_submit_paper_batch`` (``submit_paper_batch``): Raptor's order record, its request
  log and the venue's copy for a batch of orders in one transaction, settled inline
  (``batching.PaperSubmissionBatcher``).

Both apply the rules of ``book.place`` (``book.reserve`` then ``book.apply_fill``): a buy
reserves quantity x (limit or price) and is refused beyond buying power; a sell holds its
shares and is refused beyond the free position; a marketable order fills at the price, at
most ``liquidity`` at a time. Refusals leave nothing behind. ``tests/raptor/test_paper_spec.py``
holds both equal to ``book.place`` on random orders. The functions as they stand are
``src/raxx/raptor/sql/raptor_paper_*.sql`` and ``raptor_submit_paper_batch.sql``.

Lock order is the account row, then the position row, everywhere (the placement functions,
``maintain`` and ``cancel``), so that a buy and a sell of one symbol cannot deadlock. Each
UPDATE rechecks its condition on the newest version of a row it waited for (READ
COMMITTED), so every check and sum uses current values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import ColumnElement, Select, Table, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from raxx.common.prepared import PreparedQuery
from raxx.raptor.broker.base import BrokerOrderNotFound, OrderQuery
from raxx.raptor.broker.paper.book import AccountState, OrderState, PositionState
from raxx.raptor.models.paper import PaperAccount, PaperOrder, PaperPosition, PaperPrice
from raxx.raptor.vocabulary import OPEN_STATUSES

ACCOUNT = cast(Table, PaperAccount.__table__)
ORDERS = cast(Table, PaperOrder.__table__)
POSITIONS = cast(Table, PaperPosition.__table__)
PRICES = cast(Table, PaperPrice.__table__)
_ORDER_FIELDS = tuple(c.name for c in ORDERS.columns)

PLACE_ORDER = text(
    "SELECT * FROM raptor_paper_place(CAST(:id AS uuid), :client_order_id, :symbol, :side, :type, :time_in_force, "
    "CAST(:quantity AS numeric), CAST(:limit_price AS numeric), CAST(:liquidity AS numeric), "
    "CAST(:path_price AS numeric), CAST(:now AS timestamptz), CAST(:now_iso AS text))"
)

# Through libpq directly (``raxx.common.prepared``): this call holds the paper account's
# lock, so the Python between two calls is the database's idle time. The function's arrays
# come back as one row of text per order (in the batch's order), so no array literal of
# escaped JSON is built by the server or parsed here.
_SUBMIT_PAPER_BATCH = PreparedQuery(
    "raxx_submit_paper_batch",
    "SELECT f.halted, u.o, u.s, u.w FROM raptor_submit_paper_batch($1::json) f"
    " CROSS JOIN LATERAL unnest(f.outcomes, f.statuses, f.wire_jsons) WITH ORDINALITY AS u(o, s, w, n) ORDER BY u.n",
)


async def submit_paper_batch(
    conn: psycopg.AsyncConnection[Any], orders: Sequence[dict[str, Any]]
) -> tuple[bool, list[tuple[str, str | None, bytes | None]]]:
    """Record, log and place orders with the paper venue in one call, durably committed
    when it returns. Each order holds id, client_order_id, symbol, side, type,
    time_in_force, quantity, limit_price, token_id, actor, request_id (``order.submission``'s
    record) and venue_order_id, liquidity, path_price, now, now_iso (the venue's
    ``placement_terms``): the fields of ``raptor_submit_paper_batch``'s JSON objects.
    Returns whether trading is halted and, per order in the given order,
    (outcome, status, API JSON as UTF-8 bytes): ``placed``; ``not_inserted`` (halted or a known client
    order id: nothing written for it); ``refused`` (the venue would not take it: nothing
    written for it). ``conn`` is in autocommit: the statement is its own transaction."""
    # One JSON text: measured, psycopg's per-element dumping of sixteen typed arrays was a
    # tenth of the order path's CPU. Decimals are written as their exact str; times are
    # aware (UTC). Fields beyond those the function names would be ignored.
    rows = await _SUBMIT_PAPER_BATCH.fetch(conn, [orjson.dumps(list(orders), default=str)])
    halted = bool(rows) and rows[0][0] == b"t"
    return halted, [
        (_text(outcome), None if status is None else _text(status), wire_json) for _, outcome, status, wire_json in rows
    ]


def _text(value: bytes | None) -> str:
    assert value is not None  # the function gives every order an outcome
    return value.decode()


# -- the book's rows, read and written by the venue's Python (cancel, maintain, reads) --


def order_state(row: RowMapping) -> OrderState:
    return OrderState(**{name: row[name] for name in _ORDER_FIELDS})


async def open_account(conn: AsyncConnection, *, account_id: str, cash: Decimal) -> str:
    """Open the account unless it exists; return the account id it has (a first one wins)."""
    await conn.execute(
        pg_insert(ACCOUNT).values(id=1, account_id=account_id, cash=cash).on_conflict_do_nothing(index_elements=["id"])
    )
    return cast(str, (await conn.execute(select(ACCOUNT.c.account_id))).scalar_one())


async def account_row(conn: AsyncConnection) -> RowMapping:
    return (await conn.execute(select(ACCOUNT))).mappings().one()


async def lock_account(conn: AsyncConnection) -> AccountState:
    """The venue's lock: every writer takes the account row first."""
    row = (await conn.execute(select(ACCOUNT).where(ACCOUNT.c.id == 1).with_for_update())).mappings().one()
    return AccountState(account_id=row["account_id"], cash=row["cash"], reserved=row["reserved"])


async def load_order(conn: AsyncConnection, where: ColumnElement[bool], *, for_update: bool = False) -> OrderState:
    stmt = select(ORDERS).where(where)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise BrokerOrderNotFound("no such order at the paper broker")
    return order_state(row)


def orders_query(query: OrderQuery) -> Select[Any]:
    stmt = select(ORDERS).order_by(ORDERS.c.created_at.desc()).limit(query.limit)
    if query.status != "all":
        is_open = ORDERS.c.status.in_(OPEN_STATUSES)
        stmt = stmt.where(is_open if query.status == "open" else ~is_open)
    if query.after is not None:
        stmt = stmt.where(ORDERS.c.created_at > query.after)
    if query.until is not None:
        stmt = stmt.where(ORDERS.c.created_at <= query.until)
    if query.symbols:
        stmt = stmt.where(ORDERS.c.symbol.in_(query.symbols))
    return stmt


async def any_open_order(conn: AsyncConnection) -> bool:
    stmt = select(ORDERS.c.id).where(ORDERS.c.status.in_(OPEN_STATUSES)).limit(1)
    return (await conn.execute(stmt)).first() is not None


async def open_orders(conn: AsyncConnection, *, limit: int) -> list[OrderState]:
    """The oldest open orders first."""
    stmt = select(ORDERS).where(ORDERS.c.status.in_(OPEN_STATUSES)).order_by(ORDERS.c.created_at).limit(limit)
    return [order_state(r) for r in (await conn.execute(stmt)).mappings().all()]


async def positions(conn: AsyncConnection, symbols: list[str]) -> dict[str, PositionState]:
    rows = (await conn.execute(select(POSITIONS).where(POSITIONS.c.symbol.in_(symbols)))).mappings().all()
    found = {r["symbol"]: PositionState(r["symbol"], r["quantity"], r["held"], r["cost_basis"]) for r in rows}
    return {s: found.get(s, PositionState(s)) for s in symbols}


async def held_positions(conn: AsyncConnection) -> list[RowMapping]:
    stmt = select(POSITIONS).where(POSITIONS.c.quantity > 0).order_by(POSITIONS.c.symbol)
    return list((await conn.execute(stmt)).mappings().all())


async def pinned_prices(conn: AsyncConnection, symbols: list[str]) -> dict[str, Decimal]:
    rows = (await conn.execute(select(PRICES.c.symbol, PRICES.c.price).where(PRICES.c.symbol.in_(symbols)))).all()
    return {r.symbol: r.price for r in rows}


async def pin_price(conn: AsyncConnection, symbol: str, price: Decimal, *, now: datetime) -> None:
    stmt = pg_insert(PRICES).values(symbol=symbol, price=price, set_at=now)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["symbol"], set_={"price": price, "set_at": stmt.excluded.set_at})
    )


async def unpin_price(conn: AsyncConnection, symbol: str) -> bool:
    result = await conn.execute(PRICES.delete().where(PRICES.c.symbol == symbol).returning(PRICES.c.symbol))
    return result.first() is not None


async def save(
    conn: AsyncConnection, account: AccountState, positions: list[PositionState], orders: list[OrderState]
) -> None:
    """Write back what the rules changed: the account, the positions and the orders."""
    await conn.execute(update(ACCOUNT).where(ACCOUNT.c.id == 1).values(cash=account.cash, reserved=account.reserved))
    if positions:
        stmt = pg_insert(POSITIONS).values(
            [
                {"symbol": p.symbol, "quantity": p.quantity, "held": p.held, "cost_basis": p.cost_basis}
                for p in positions
            ]
        )
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["symbol"],
                set_={
                    "quantity": stmt.excluded.quantity,
                    "held": stmt.excluded.held,
                    "cost_basis": stmt.excluded.cost_basis,
                },
            )
        )
    for order in orders:
        values = {name: getattr(order, name) for name in _ORDER_FIELDS}
        await conn.execute(update(ORDERS).where(ORDERS.c.id == values.pop("id")).values(**values))
