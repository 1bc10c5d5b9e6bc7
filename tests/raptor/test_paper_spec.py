"""The paper venue's rules have one specification, ``broker/paper/book.py`` (``book.place``);
the placement also runs them in SQL, twice: the venue's own call (``raptor_paper_place`` with
``raptor_paper_settle``) and Raptor's batched submission (``raptor_submit_paper_batch``, which
settles inline). Random order sequences go through each SQL path on a real database and
through the specification; the answers (placed, or refused with the same reason), the cash,
the reserve, the positions and each order's fill must be the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from raxx.common.clock import FrozenClock
from raxx.common.db import create_engine, libpq_url
from raxx.common.provision import ProvisionedDatabase
from raxx.raptor.broker.base import BrokerRejected, OrderIntent
from raxx.raptor.broker.paper import book, statements
from raxx.raptor.broker.paper.pricing import PricePath
from raxx.raptor.broker.paper.venue import PaperBroker
from tests.fixtures.database import DatabaseFactory

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SYMBOLS = ("AAPL", "MSFT")
#: Examples per path: each runs a few orders against PostgreSQL (a few seconds in all).
EXAMPLES = 40


@dataclass(frozen=True)
class Step:
    """One order and the price it meets (the quote at placement)."""

    side: str
    symbol: str
    quantity: Decimal
    limit_price: Decimal | None
    price: Decimal

    def intent(self, client_order_id: str) -> OrderIntent:
        return OrderIntent(
            client_order_id=client_order_id,
            symbol=self.symbol,
            side=self.side,  # type: ignore[arg-type]
            type="market" if self.limit_price is None else "limit",
            time_in_force="gtc",
            quantity=self.quantity,
            limit_price=self.limit_price,
        )


@dataclass(frozen=True)
class Case:
    cash: Decimal
    liquidity: Decimal | None
    steps: list[Step]
    #: Where a new batch starts (the batch path): one flag per step after the first.
    breaks: list[bool]


def _quantities() -> st.SearchStrategy[Decimal]:
    # Whole shares mostly, fractional ones (up to the API's 8 places) now and then.
    return st.one_of(
        st.integers(min_value=1, max_value=60).map(Decimal),
        st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(40), places=8),
    )


def _prices() -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal("0.01"), max_value=Decimal(400), places=2)


STEPS = st.builds(
    Step,
    side=st.sampled_from(("buy", "sell")),
    symbol=st.sampled_from(SYMBOLS),
    quantity=_quantities(),
    limit_price=st.none() | st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(400), places=4),
    price=_prices(),
)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    steps = draw(st.lists(STEPS, min_size=1, max_size=10))
    return Case(
        cash=draw(st.decimals(min_value=Decimal(0), max_value=Decimal(20_000), places=2)),
        liquidity=draw(st.none() | st.decimals(min_value=Decimal("0.5"), max_value=Decimal(30), places=2)),
        steps=steps,
        breaks=draw(st.lists(st.booleans(), min_size=len(steps) - 1, max_size=len(steps) - 1)),
    )


# -- the specification ------------------------------------------------------------------


@dataclass
class Outcome:
    """What one order came to: placed (status, filled, reserve left) or refused (reason)."""

    refused: str | None
    status: str | None = None
    filled_quantity: Decimal | None = None
    reserved_cash: Decimal | None = None


def by_the_book(case: Case) -> tuple[list[Outcome], dict[str, Decimal], dict[str, tuple[Decimal, ...]]]:
    account = book.AccountState("PA-SPEC", cash=case.cash, reserved=Decimal(0))
    positions = {s: book.PositionState(s) for s in SYMBOLS}
    outcomes = []
    for i, step in enumerate(case.steps):
        order = book.new_order(step.intent(f"o-{i}"), NOW)
        try:
            book.place(
                order,
                price=step.price,
                account=account,
                position=positions[step.symbol],
                now=NOW,
                liquidity=case.liquidity,
            )
        except BrokerRejected as exc:
            outcomes.append(Outcome(refused=exc.code))
            continue
        outcomes.append(Outcome(None, order.status, order.filled_quantity, order.reserved_cash))
    held = {s: (p.quantity, p.held, p.cost_basis) for s, p in positions.items()}
    return outcomes, {"cash": account.cash, "reserved": account.reserved}, _nonzero(held)


def _nonzero(positions: dict[str, tuple[Decimal, ...]]) -> dict[str, tuple[Decimal, ...]]:
    return {s: values for s, values in positions.items() if any(values)}


# -- the database -----------------------------------------------------------------------


Admin = psycopg.Connection[tuple[Any, ...]]


@contextmanager
def _admin(test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase) -> Iterator[Admin]:
    """The superuser's connection (the runtime role may not empty the request log)."""
    with psycopg.connect(test_databases.superuser_url(raptor_db.database), autocommit=True) as conn:
        yield conn


def _reset(admin: Admin, cash: Decimal, *, account: bool = True) -> None:
    """An empty book (a few rows: ``DELETE`` is far cheaper than ``TRUNCATE`` here)."""
    for table in ("paper_orders", "paper_positions", "paper_prices", "paper_account", "orders", "request_log"):
        admin.execute(f"DELETE FROM {table}")  # noqa: S608 - the names above
    if account:
        admin.execute("INSERT INTO paper_account (id, account_id, cash) VALUES (1, 'PA-SQL', %s)", (cash,))


def _book_in_database(admin: Admin) -> tuple[dict[str, Decimal], dict[str, tuple[Decimal, ...]]]:
    cash, reserved = admin.execute("SELECT cash, reserved FROM paper_account").fetchone() or (None, None)
    rows = admin.execute("SELECT symbol, quantity, held, cost_basis FROM paper_positions").fetchall()
    return {"cash": cash, "reserved": reserved}, _nonzero({r[0]: tuple(r[1:]) for r in rows})


def _venue_orders(admin: Admin) -> dict[str, Outcome]:
    rows = admin.execute("SELECT client_order_id, status, filled_quantity, reserved_cash FROM paper_orders")
    return {r[0]: Outcome(None, r[1], r[2], r[3]) for r in rows.fetchall()}


class QuotedPrices(PricePath):
    """The price path the test sets order by order (``now``: the step's quote)."""

    def __init__(self) -> None:
        super().__init__(seed=0, tick_seconds=1, volatility=0)
        self.now: dict[str, Decimal] = {}

    def price_at(self, symbol: str, when: datetime) -> Decimal:
        return self.now[symbol]


@contextmanager
def _runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def _assert_same(case: Case, answers: list[Outcome], admin: Admin) -> None:
    expected, account, positions = by_the_book(case)
    venue = _venue_orders(admin)
    for i, answer in enumerate(answers):
        if answer.refused is None:
            answer = venue[f"o-{i}"]
        assert answer == expected[i], f"order {i} ({case.steps[i]})"
    assert _book_in_database(admin) == (account, positions)


# -- the two SQL paths ------------------------------------------------------------------


def test_the_venues_own_placement_follows_the_book(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    """``PaperBroker.submit`` (``raptor_paper_place``), a refusal explained as production does."""
    prices = QuotedPrices()
    with _admin(test_databases, raptor_db) as admin, _runner() as runner:
        engine = create_engine(raptor_db.runtime_url, application_name="test-paper-spec", pool_size=1)

        @settings(max_examples=EXAMPLES, deadline=None, database=None)
        @given(case=cases())
        def check(case: Case) -> None:
            _reset(admin, case.cash, account=False)  # the venue opens it
            broker = PaperBroker(
                engine, prices=prices, starting_cash=case.cash, liquidity=case.liquidity, clock=FrozenClock(NOW)
            )
            runner.run(broker.start())
            answers = []
            for i, step in enumerate(case.steps):
                prices.now = {step.symbol: step.price}
                try:
                    runner.run(broker.submit(step.intent(f"o-{i}")))
                except BrokerRejected as exc:
                    answers.append(Outcome(refused=exc.code))
                else:
                    answers.append(Outcome(None))
            _assert_same(case, answers, admin)

        try:
            check()
        finally:
            runner.run(engine.dispose())


def test_raptors_batched_submission_follows_the_book(
    test_databases: DatabaseFactory, raptor_db: ProvisionedDatabase
) -> None:
    """``raptor_submit_paper_batch``, the orders split into batches at random; a refusal's
    reason is the book's on the state before the order (what the batch judged it on)."""
    with _admin(test_databases, raptor_db) as admin, _runner() as runner:
        conn = runner.run(psycopg.AsyncConnection.connect(libpq_url(raptor_db.runtime_url), autocommit=True))

        @settings(max_examples=EXAMPLES, deadline=None, database=None)
        @given(case=cases())
        def check(case: Case) -> None:
            _reset(admin, case.cash)
            expected, _, _ = by_the_book(case)
            answers: list[Outcome] = []
            for batch in _batches(case):
                _, rows = runner.run(statements.submit_paper_batch(conn, [_values(case, i) for i in batch]))
                for i, (outcome, _status, _json) in zip(batch, rows, strict=True):
                    assert outcome in ("placed", "refused"), outcome
                    # The batch says only "refused"; the reason is the book's (checked above).
                    answers.append(Outcome(refused=expected[i].refused if outcome == "refused" else None))
                    if outcome == "refused":
                        assert expected[i].refused is not None, f"order {i} refused, the book places it"
            _assert_same(case, answers, admin)

        try:
            check()
        finally:
            runner.run(conn.close())


def _batches(case: Case) -> list[list[int]]:
    batches = [[0]]
    for i, new in enumerate(case.breaks, start=1):
        if new:
            batches.append([])
        batches[-1].append(i)
    return batches


def _values(case: Case, i: int) -> dict[str, Any]:
    step = case.steps[i]
    intent = step.intent(f"o-{i}")
    return {
        "id": uuid.uuid4(),
        "client_order_id": intent.client_order_id,
        "symbol": step.symbol,
        "side": step.side,
        "type": intent.type,
        "time_in_force": intent.time_in_force,
        "quantity": step.quantity,
        "limit_price": step.limit_price,
        "token_id": "t",
        "actor": None,
        "request_id": f"r-{i}",
        "venue_order_id": uuid.uuid4(),
        "liquidity": case.liquidity,
        "path_price": step.price,
        "now": NOW,
        "now_iso": "2026-11-27T12:00:00Z",
    }
