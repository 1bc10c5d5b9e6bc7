"""The built-in paper broker: a real, small venue kept in the environment's own database.

The venue's rules are ``book.py``; what it sends to PostgreSQL is ``statements.py`` (a
placement is one SQL call; the rest is read, judged by ``book`` and written back).

Every change to the book happens under a lock on the single account row, so reserves,
fills and cancels never race each other, across processes too. Prices follow the
seeded path of ``pricing.PricePath`` unless pinned (``set_price``). Market orders fill
at the current price; limit orders fill when the price crosses, in ``maintain`` (run
by the app's background loop) or right away when a pinned price crosses them.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from psycopg.errors import TransactionRollback
from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from raxx.common.clock import Clock, SystemClock
from raxx.common.contracts.service import ReadyCheck
from raxx.common.db import busy_as_unavailable
from raxx.common.ids import uuid7
from raxx.raptor.broker.base import (
    BrokerAccount,
    BrokerNotCancelable,
    BrokerOrder,
    BrokerOrderNotFound,
    BrokerPosition,
    BrokerRejected,
    BrokerUnavailable,
    OrderIntent,
    OrderQuery,
)
from raxx.raptor.broker.paper import book, statements
from raxx.raptor.broker.paper.book import AccountState, OrderState, PositionState
from raxx.raptor.broker.paper.pricing import PricePath
from raxx.raptor.broker.paper.statements import ACCOUNT, ORDERS, PLACE_ORDER
from raxx.raptor.wire import wire_time

#: How often a placement PostgreSQL aborted as a deadlock victim is run again.
PLACE_RETRIES = 5

MAINTAIN_BATCH = 500


def new_account_id() -> str:
    """Looks like Alpaca's paper account numbers (``PA`` + 10); generated once per database."""
    return "PA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


class PaperBroker:
    name = "paper"
    paper = True
    shares_raptor_database = True

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        prices: PricePath,
        starting_cash: Decimal,
        liquidity: Decimal | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._prices = prices
        self._starting_cash = starting_cash
        self._liquidity = liquidity
        self._clock = clock or SystemClock()
        self._account_id: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Open (once per database, ever) the paper account; later starts find the same one."""
        async with self._tx() as conn:
            self._account_id = await statements.open_account(
                conn, account_id=new_account_id(), cash=self._starting_cash
            )

    async def close(self) -> None:
        """Nothing to close: the engine belongs to whoever made it (``RaptorDatabase``)."""

    def identity(self) -> dict[str, object]:
        return {"broker": self.name, "broker_account_id": self._account_id, "paper": True}

    async def ready(self) -> ReadyCheck:
        try:
            async with self._engine.connect() as conn:
                account_id = (await conn.execute(select(ACCOUNT.c.account_id))).scalar_one_or_none()
        except (SQLAlchemyError, OSError) as exc:
            return ReadyCheck(name="broker", ok=False, detail=f"paper broker unreachable: {type(exc).__name__}")
        if account_id is None:
            return ReadyCheck(name="broker", ok=False, detail="paper account not opened")
        return ReadyCheck(name="broker", ok=True, detail=f"paper account {account_id}")

    # -- orders --------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        """Place an order in one call; a known client order id returns the venue's copy."""
        now = self._clock.now()
        params = {
            "id": uuid7(),
            "client_order_id": intent.client_order_id,
            "symbol": intent.symbol,
            "side": intent.side,
            "type": intent.type,
            "time_in_force": intent.time_in_force,
            "quantity": intent.quantity,
            "limit_price": intent.limit_price,
            "liquidity": self._liquidity,
            "path_price": self._prices.price_at(intent.symbol, now),
            "now": now,
            "now_iso": now.isoformat(),
        }
        row = await self._place(params)
        if row is not None:
            return book.to_broker_order(statements.order_state(row))
        return await self._existing_or_refusal(intent, now)

    # -- the fused placement (Raptor's order record and the venue in one transaction) --

    @property
    def places_in_raptor_transaction(self) -> bool:
        """Whether Raptor may record and place an order in one transaction with this venue
        (``raptor_submit_paper_batch``, through ``batching.PaperSubmissionBatcher``): only when
        submission is the venue's own. A subclass that reroutes ``submit`` (a flaky link in
        tests) keeps the generic two-step path."""
        return type(self).submit is PaperBroker.submit

    def placement_terms(self, intent: OrderIntent) -> dict[str, Any]:
        """What the placement needs from Python: the venue's order id, liquidity, the price
        path's current price and the clock (the same values ``submit`` passes)."""
        now = self._clock.now()
        return {
            "venue_order_id": uuid7(),
            "liquidity": self._liquidity,
            "path_price": self._prices.price_at(intent.symbol, now),
            "now": now,
            # The fill's time as the API writes it: Raptor's order record keeps the venue's fills.
            "now_iso": wire_time(now),
        }

    async def explain_refusal(self, intent: OrderIntent) -> BrokerOrder:
        """The venue placed nothing for ``intent``: its copy if it has one, else raise the
        ``BrokerRejected`` its rules give on the book as it is now."""
        return await self._existing_or_refusal(intent, self._clock.now())

    async def _place(self, params: dict[str, Any]) -> RowMapping | None:
        """Run the placement call (``statements.PLACE_ORDER``); retry when PostgreSQL aborted it
        to break a deadlock.

        ``raptor_paper_settle`` locks the account row, then the position row, like every other
        writer, so a deadlock should not happen; if PostgreSQL still aborts the call (nothing
        applied), running it again is safe: the client order id's unique constraint keeps it
        idempotent.
        """
        for attempt in range(PLACE_RETRIES):
            try:
                async with self._connect() as raw:
                    conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
                    try:
                        return (await conn.execute(PLACE_ORDER, params)).mappings().first()
                    except IntegrityError:  # the same client order id won the race a moment ago
                        return None
            except BrokerUnavailable as exc:
                if not isinstance(getattr(exc.__cause__, "orig", None), TransactionRollback):
                    raise
                if attempt == PLACE_RETRIES - 1:
                    raise
                await asyncio.sleep(0.005 * (attempt + 1) + random.random() * 0.01)  # noqa: S311 - jitter
        return None

    async def _existing_or_refusal(self, intent: OrderIntent, now: datetime) -> BrokerOrder:
        """Nothing was placed: either the venue has this client order id, or it refuses the
        order; the refusal's reason comes from the same rules, on the book as it is now."""
        async with self._connect() as conn:
            try:
                found = await statements.load_order(conn, ORDERS.c.client_order_id == intent.client_order_id)
                return book.to_broker_order(found)
            except BrokerOrderNotFound:
                pass
            account = await statements.account_row(conn)
            position = (await statements.positions(conn, [intent.symbol]))[intent.symbol]
            price = (await self._current_prices(conn, [intent.symbol], now))[intent.symbol]
        state = AccountState(account_id=account["account_id"], cash=account["cash"], reserved=account["reserved"])
        book.reserve(book.new_order(intent, now), price=price, account=state, position=position)  # raises
        raise BrokerRejected("the book changed while the order was placed; submit it again", code="book_changed")

    async def cancel(self, broker_order_id: str) -> BrokerOrder:
        key = _order_id(broker_order_id)
        async with self._tx() as conn:
            account = await statements.lock_account(conn)
            order = await statements.load_order(conn, ORDERS.c.id == key, for_update=True)
            if order.status == "canceled":
                return book.to_broker_order(order)
            if not order.is_open:
                raise BrokerNotCancelable(f"the order is already {order.status}", order=book.to_broker_order(order))
            position = (await statements.positions(conn, [order.symbol]))[order.symbol]
            book.release(order, account=account, position=position, now=self._clock.now(), reason="canceled on request")
            await statements.save(conn, account, [position], [order])
        return book.to_broker_order(order)

    async def get(self, broker_order_id: str) -> BrokerOrder:
        async with self._connect() as conn:
            return book.to_broker_order(await statements.load_order(conn, ORDERS.c.id == _order_id(broker_order_id)))

    async def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        async with self._connect() as conn:
            try:
                found = await statements.load_order(conn, ORDERS.c.client_order_id == client_order_id)
                return book.to_broker_order(found)
            except BrokerOrderNotFound:
                return None

    async def list_orders(self, query: OrderQuery) -> list[BrokerOrder]:
        async with self._connect() as conn:
            rows = (await conn.execute(statements.orders_query(query))).mappings().all()
        return [book.to_broker_order(statements.order_state(r)) for r in rows]

    # -- account and positions -----------------------------------------------------

    async def account(self) -> BrokerAccount:
        async with self._connect() as conn:
            row = await statements.account_row(conn)
            positions = await self._valued_positions(conn)
        value = sum((p.market_value for p in positions), Decimal(0))
        return BrokerAccount(
            account_id=row["account_id"],
            paper=True,
            currency=row["currency"],
            cash=row["cash"],
            buying_power=row["cash"] - row["reserved"],
            equity=row["cash"] + value,
            positions_value=value,
        )

    async def positions(self) -> list[BrokerPosition]:
        async with self._connect() as conn:
            return await self._valued_positions(conn)

    # -- prices (paper only) ---------------------------------------------------------

    async def quote(self, symbol: str) -> tuple[Decimal, bool]:
        """The current price of ``symbol`` and whether it is pinned by hand."""
        async with self._connect() as conn:
            pinned = (await statements.pinned_prices(conn, [symbol])).get(symbol)
        if pinned is not None:
            return pinned, True
        return self._prices.price_at(symbol, self._clock.now()), False

    async def set_price(self, symbol: str, price: Decimal) -> None:
        """Pin ``symbol`` at ``price`` and fill whatever that price crosses, right away."""
        async with self._tx() as conn:
            await statements.pin_price(conn, symbol, price, now=self._clock.now())
        await self.maintain()

    async def clear_price(self, symbol: str) -> bool:
        async with self._tx() as conn:
            return await statements.unpin_price(conn, symbol)

    async def maintain(self) -> None:
        """Fill open orders the price now crosses; expire day orders from an earlier session.

        Day orders expire at the first pass after midnight UTC (the paper venue's session end).
        """
        if self._account_id is None:  # the database was down at start-up
            await self.start()
        async with self._connect() as conn:
            if not await statements.any_open_order(conn):
                return  # the common case: no lock taken, nothing to do
        now = self._clock.now()
        async with self._tx() as conn:
            account = await statements.lock_account(conn)
            orders = await statements.open_orders(conn, limit=MAINTAIN_BATCH)
            symbols = sorted({o.symbol for o in orders})
            positions = await statements.positions(conn, symbols)
            prices = await self._current_prices(conn, symbols, now)
            changed = [o for o in orders if self._work_one(o, account, positions[o.symbol], prices[o.symbol], now)]
            if changed:
                await statements.save(conn, account, list(positions.values()), changed)

    def _work_one(
        self, order: OrderState, account: AccountState, position: PositionState, price: Decimal, now: datetime
    ) -> bool:
        session_start = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
        if order.time_in_force == "day" and order.created_at < session_start:
            book.release(order, account=account, position=position, now=now, reason="expired: day order, session ended")
            return True
        if book.marketable(order, price):
            book.apply_fill(order, price=price, account=account, position=position, now=now, liquidity=self._liquidity)
            return True
        return False

    # -- SQL helpers -------------------------------------------------------------------

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_on_error():
            async with self._engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        with _unavailable_on_error():
            async with self._engine.connect() as conn:
                yield conn

    async def _current_prices(self, conn: AsyncConnection, symbols: list[str], now: datetime) -> dict[str, Decimal]:
        pinned = await statements.pinned_prices(conn, symbols)
        return {s: pinned.get(s) or self._prices.price_at(s, now) for s in symbols}

    async def _valued_positions(self, conn: AsyncConnection) -> list[BrokerPosition]:
        rows = await statements.held_positions(conn)
        prices = await self._current_prices(conn, [r["symbol"] for r in rows], self._clock.now())
        return [_valued(r, prices[r["symbol"]]) for r in rows]


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """The venue is this database: one that does not answer is an unavailable broker; one
    whose connections are all in use is a busy database (both 503s with ``Retry-After``)."""
    try:
        with busy_as_unavailable("venue"):
            yield
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise BrokerUnavailable(f"paper broker database error: {type(exc).__name__}") from exc


def _order_id(broker_order_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(broker_order_id)
    except ValueError:
        raise BrokerOrderNotFound("no such order at the paper broker") from None


def _valued(row: RowMapping, price: Decimal) -> BrokerPosition:
    quantity: Decimal = row["quantity"]
    basis: Decimal = row["cost_basis"]
    value = quantity * price
    return BrokerPosition(
        symbol=row["symbol"],
        quantity=quantity,
        available=quantity - row["held"],
        avg_entry_price=(basis / quantity).quantize(book.PRICE_PLACES),
        cost_basis=basis,
        current_price=price,
        market_value=value,
        unrealized_pl=value - basis,
    )
