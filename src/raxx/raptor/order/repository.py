"""SQL for Raptor's order record. Core statements: the submission path stays lean."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

import psycopg
from psycopg import sql as pgsql
from sqlalchemy import Table, select, text, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from raxx.raptor.models.order import Order
from raxx.raptor.vocabulary import OPEN_STATUSES

ORDERS = cast(Table, Order.__table__)
#: An order's columns as the service reads them: not its stored API JSON (``wire_json``), which
#: only the list reads (a page as text, below) and the placement functions return.
ROW = [column for column in ORDERS.columns if column.key != "wire_json"]
#: Repositories run on the request's session or on a connection of their own (order submission).
Db = AsyncSession | AsyncConnection

# One round trip: refuse while halted, insert unless the client order id exists, and log
# the request id, all in one statement. The unique constraint on client_order_id is
# what makes fifty concurrent submissions create one order.
# ``durable`` decides whether this commit waits for its WAL flush: it need not when the
# broker's book lives in this same database, because the outcome's later synchronous
# commit flushes the WAL up to and including this one (WAL is durable in order).
_INSERT_UNLESS_HALTED = text(
    """
    WITH flush AS (SELECT set_config('synchronous_commit', CASE WHEN :durable THEN 'on' ELSE 'off' END, true)),
    switch AS (SELECT halted FROM trading_state WHERE id = 1),
    inserted AS (
        INSERT INTO orders (id, client_order_id, symbol, side, type, time_in_force, quantity, limit_price,
                            status, token_id, actor, request_id)
        SELECT :id, :client_order_id, :symbol, :side, :type, :time_in_force, :quantity, :limit_price,
               'new', :token_id, :actor, :request_id
        WHERE NOT (SELECT halted FROM switch)
        ON CONFLICT (client_order_id) DO NOTHING
        RETURNING id, created_at
    ),
    logged AS (
        INSERT INTO request_log (request_id, action, target, token_id, actor)
        SELECT :request_id, 'order.submit', CAST(:id AS text), :token_id, :actor FROM inserted
        ON CONFLICT (request_id) DO NOTHING
    )
    SELECT (SELECT created_at FROM inserted) AS created_at, (SELECT halted FROM switch) AS halted,
           (SELECT count(*) FROM flush) AS flush_set
    """
)


async def insert_unless_halted(
    session: Db, values: dict[str, Any], *, durable: bool = True
) -> tuple[datetime | None, bool]:
    """Insert a new order; return (its created_at or None when not inserted, halted).
    Not inserted means halted or a known client order id."""
    row = (await session.execute(_INSERT_UNLESS_HALTED, {**values, "durable": durable})).one()
    return row.created_at, bool(row.halted)


async def find_by_client_order_id(session: Db, client_order_id: str) -> RowMapping | None:
    return (await session.execute(select(*ROW).where(ORDERS.c.client_order_id == client_order_id))).mappings().first()


async def find(session: Db, order_id: uuid.UUID, *, for_update: bool = False) -> RowMapping | None:
    stmt = select(*ROW).where(ORDERS.c.id == order_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).mappings().first()


async def update_order(session: Db, order_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
    stmt = update(ORDERS).where(ORDERS.c.id == order_id).values(**values).returning(*ROW)
    return (await session.execute(stmt)).mappings().one()


async def record_outcome(session: Db, order_id: uuid.UUID, values: dict[str, Any]) -> None:
    """``update_order`` for a caller that already knows the whole row (no RETURNING to decode)."""
    await session.execute(update(ORDERS).where(ORDERS.c.id == order_id).values(**values))


async def open_orders(
    session: Db, *, limit: int, lock: Literal["none", "wait", "skip"] = "none"
) -> Sequence[RowMapping]:
    """Open orders, least recently updated first. ``skip`` passes over rows another
    transaction holds (an order mid-submission), ``wait`` waits for them."""
    stmt = select(*ROW).where(ORDERS.c.status.in_(OPEN_STATUSES)).order_by(ORDERS.c.updated_at).limit(limit)
    if lock != "none":
        stmt = stmt.with_for_update(skip_locked=lock == "skip")
    return (await session.execute(stmt)).mappings().all()


@dataclass(frozen=True)
class JsonPage:
    """A page of orders as their stored API JSON (``orders.wire_json``, rendered on write)."""

    #: The orders' JSON objects joined by commas, newest first (UTF-8).
    orders_json: bytes
    has_more: bool
    last_key: tuple[datetime, uuid.UUID] | None


# One row back, whatever the page size: PostgreSQL joins the stored JSON of the page and
# names the last shown order's key when there is more. Python then decodes one value
# instead of a row per order (measured: fetching 101 rows was most of the list's CPU).
_LIST_JSON = pgsql.SQL(
    """
    WITH page AS (
        SELECT o.created_at, o.id, o.wire_json FROM orders o WHERE {}
        ORDER BY o.created_at DESC, o.id DESC LIMIT %(fetch)s
    ),
    numbered AS (
        SELECT p.*, row_number() OVER (ORDER BY p.created_at DESC, p.id DESC) AS n FROM page p
    )
    SELECT convert_to(COALESCE(string_agg(wire_json, ',' ORDER BY n) FILTER (WHERE n <= %(shown)s), ''), 'UTF8'),
           count(*) > %(shown)s,
           max(created_at) FILTER (WHERE n = %(shown)s),
           (array_agg(id) FILTER (WHERE n = %(shown)s))[1]
    FROM numbered
    """
)


@dataclass(frozen=True)
class OrderFilter:
    """Which orders a page of the list holds, newest first: at most ``limit``, of the given
    statuses (any when empty), symbol, side, client order id and id range, created in
    [since, until), and older than
    ``before``, the (created_at, id) of the previous page's last order."""

    limit: int
    statuses: Sequence[str] = ()
    symbol: str | None = None
    side: str | None = None
    client_order_id: str | None = None
    #: Inclusive bounds of the ids an id or id prefix names (``order.idprefix``): a range
    #: scan of the primary key, not a text match over every id.
    id_range: tuple[uuid.UUID, uuid.UUID] | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: tuple[datetime, uuid.UUID] | None = None


#: A page's one-value filters: (``OrderFilter`` field, condition on the parameter of that name).
_PAGE_FILTERS = (
    ("symbol", "o.symbol = %(symbol)s"),
    ("side", "o.side = %(side)s"),
    ("client_order_id", "o.client_order_id = %(client_order_id)s"),
    ("since", "o.created_at >= %(since)s"),
    ("until", "o.created_at < %(until)s"),
)


async def list_page_json(conn: psycopg.AsyncConnection[Any], page: OrderFilter) -> JsonPage:
    """The orders ``page`` selects, each as ``OrderRead``'s JSON, rendered by PostgreSQL when the order was written
    (migration r20261127_0004): no row decoding, validation or serialization in Python,
    and no rendering per read."""
    conditions = ["true"]
    params: dict[str, Any] = {"fetch": page.limit + 1, "shown": page.limit}
    if page.statuses:
        conditions.append("o.status = ANY(%(statuses)s)")
        params["statuses"] = list(page.statuses)
    for name, condition in _PAGE_FILTERS:
        value = getattr(page, name)
        if value:
            conditions.append(condition)
            params[name] = value
    if page.id_range:
        conditions.append("o.id BETWEEN %(id_low)s AND %(id_high)s")
        params["id_low"], params["id_high"] = page.id_range
    if page.before:
        conditions.append("(o.created_at, o.id) < (%(before_at)s, %(before_id)s)")
        params["before_at"], params["before_id"] = page.before
    query = _LIST_JSON.format(pgsql.SQL(" AND ").join(pgsql.SQL(c) for c in conditions))
    async with conn.cursor(binary=True) as cur:  # binary: the bytea arrives as bytes, undecoded
        await cur.execute(query, params)  # fixed fragments only; values are parameters
        row = await cur.fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    joined, has_more, last_at, last_id = row
    return JsonPage(orders_json=joined, has_more=has_more, last_key=(last_at, last_id) if has_more else None)


# The Overview's orders panel in one statement: open orders through the partial index of
# open orders, today's through the (created_at, id) index; nothing scans the whole table.
# A rejection's reason is grouped by its kind, the text before the colon (the amounts after
# it differ per order).
_SUMMARY = text(
    """
    WITH today AS (
        SELECT status, reject_reason, jsonb_array_length(fills) AS fills FROM orders WHERE created_at >= :day
    )
    SELECT (SELECT count(*) FROM orders WHERE status IN ('new', 'partially_filled')) AS open_orders,
           (SELECT count(*) FROM today) AS placed_today,
           (SELECT COALESCE(sum(fills), 0) FROM today) AS fills_today,
           (SELECT COALESCE(jsonb_object_agg(reason, n), '{}'::jsonb) FROM (
               SELECT COALESCE(split_part(reject_reason, ':', 1), '') AS reason, count(*) AS n FROM today
               WHERE status = 'rejected' GROUP BY 1
           ) r) AS rejected_today
    """
)


async def summary(session: Db, *, day: datetime) -> RowMapping:
    """Counts for the console's Overview: open orders, and orders placed since ``day`` with
    their fills and their rejections by reason."""
    return (await session.execute(_SUMMARY, {"day": day})).mappings().one()
