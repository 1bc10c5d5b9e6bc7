"""Parsing what operators type: an order form and a halt reason.

Nothing here talks to Raptor: a form that does not parse comes back with the field
marked and nothing is sent. Limits mirror Raptor's (``raxx.common.contracts.trading``)
so the operator hears about them from the console, next to the field.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from raxx.common.contracts.trading import (
    CLIENT_ORDER_ID_PATTERN,
    MAX_AMOUNT,
    ORDER_STATUSES,
    ORDER_TYPES,
    PLAIN_DECIMAL,
    PLAIN_DECIMAL_WORDS,
    PRICE_DECIMALS,
    QUANTITY_DECIMALS,
    SIDES,
    SYMBOL_PATTERN,
    TIMES_IN_FORCE,
    OrderCreate,
    OrderStatus,
    plain_decimal,
)
from raxx.common.storable import ascii_digits, text_problem
from raxx.console.raptor.trading_api import OrderQuery

_SYMBOL_RE = re.compile(SYMBOL_PATTERN)
_CLIENT_ID_RE = re.compile(CLIENT_ORDER_ID_PATTERN)
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
#: An order id or its first 4+ hex digits (dashes allowed): what Raptor's ``id`` filter takes.
_ID_PREFIX_RE = re.compile(r"^(?=(?:-*[0-9a-f]){4})[0-9a-f-]{4,36}$")
#: The shortest id shown in a list; longer where ids in the list share their first digits.
SHORT_ID_MIN = 8
ORDER_FIELDS = ("symbol", "side", "type", "quantity", "limit_price", "time_in_force", "client_order_id")
MAX_REASON = 500
PAGE_SIZES = (25, 50, 100, 200)
MAX_TRAIL = 20


@dataclass
class ParsedForm:
    """Raw values (to show the form again), field errors, and the parsed result when there are none."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class OrderForm(ParsedForm):
    order: OrderCreate | None = None


def new_client_order_id() -> str:
    """Minted when the form is rendered: submitting the same form twice places one order."""
    return f"console-{uuid.uuid4().hex}"


def _amount(raw: str, *, decimals: int, what: str) -> tuple[Decimal | None, str | None]:
    text = raw.strip()
    if not text:
        return None, f"enter a {what}"
    if PLAIN_DECIMAL.fullmatch(text) is None:
        return None, f"{text!r} is not a number; use {PLAIN_DECIMAL_WORDS}"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{text!r} is not a number"
    if value <= 0:
        return None, f"the {what} must be more than 0"
    if value > MAX_AMOUNT:
        return None, f"the {what} must be at most {MAX_AMOUNT:,}"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        return None, f"the {what} takes at most {decimals} decimal places"
    return value, None


def parse_order_form(form: Mapping[str, str]) -> OrderForm:
    """Parse an order form; on any error, ``order`` is None and nothing may be sent."""
    values = {name: str(form.get(name, "")).strip() for name in ORDER_FIELDS}
    values["symbol"] = values["symbol"].upper()
    parsed = OrderForm(values=values)
    errors = parsed.errors
    if not _SYMBOL_RE.match(values["symbol"]):
        errors["symbol"] = "a ticker in capitals, like AAPL (letters, digits, dots; up to 10)"
    for name, allowed in (("side", SIDES), ("type", ORDER_TYPES), ("time_in_force", TIMES_IN_FORCE)):
        if values[name] not in allowed:
            errors[name] = f"choose {' or '.join(allowed)}"
    quantity, problem = _amount(values["quantity"], decimals=QUANTITY_DECIMALS, what="quantity")
    if problem:
        errors["quantity"] = problem
    price: Decimal | None = None
    if values["type"] == "limit":
        price, problem = _amount(values["limit_price"], decimals=PRICE_DECIMALS, what="limit price")
        if problem:
            errors["limit_price"] = problem
    elif values["type"] == "market" and values["limit_price"]:
        errors["limit_price"] = "a market order takes no limit price; clear it or choose limit"
    if not _CLIENT_ID_RE.match(values["client_order_id"]):
        # On the page the field is hidden (the form's idempotency key): only a fresh form mends it.
        errors["client_order_id"] = "1 to 128 letters, digits and . _ : - (on the order page: open a fresh order form)"
    if not errors and quantity is not None:
        parsed.order = OrderCreate(
            symbol=values["symbol"],
            side=values["side"],
            type=values["type"],
            quantity=quantity,
            limit_price=price,
            time_in_force=values["time_in_force"],
            client_order_id=values["client_order_id"],
        )
    return parsed


def order_params(order: OrderCreate) -> dict[str, str]:
    """The canonical parameters of a placement: what a confirmation binds and the audit records."""
    return {
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "quantity": plain_decimal(order.quantity),
        "limit_price": plain_decimal(order.limit_price) if order.limit_price is not None else "",
        "time_in_force": order.time_in_force,
        "client_order_id": order.client_order_id or "",
    }


def order_phrase(order: OrderCreate) -> str:
    """What the operator types to confirm a placement: ``BUY 10 AAPL`` (``@ 12.5`` for a limit)."""
    phrase = f"{order.side.upper()} {plain_decimal(order.quantity)} {order.symbol}"
    return phrase + (f" @ {plain_decimal(order.limit_price)}" if order.limit_price is not None else "")


def parse_reason(form: Mapping[str, str]) -> ParsedForm:
    """The halt reason on one line: runs of whitespace (tabs, newlines) become one space; any
    other control character is refused (``raxx.common.storable``), as Raptor refuses it."""
    reason = " ".join(str(form.get("reason", "")).split())
    parsed = ParsedForm(values={"reason": reason})
    if not reason:
        parsed.errors["reason"] = "say why trading stops; everyone sees this reason"
    elif len(reason) > MAX_REASON:
        parsed.errors["reason"] = f"keep the reason under {MAX_REASON} characters"
    elif problem := text_problem(reason, one_line=True):
        parsed.errors["reason"] = f"the reason {problem}"
    return parsed


@dataclass
class OrderFilter(ParsedForm):
    query: OrderQuery | None = None
    trail: tuple[str, ...] = ()


def _day(raw: str, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "use a date like 2026-11-26"
        return None


def parse_order_filter(params: Mapping[str, str], statuses: list[str]) -> OrderFilter:
    """The orders page's filters from its query string (so a link or a refresh keeps them)."""
    names = ("symbol", "side", "id", "client_order_id", "since", "until", "limit", "cursor", "trail")
    values = {k: str(params.get(k, "")).strip() for k in names}
    values["symbol"] = values["symbol"].upper()
    values["id"] = values["id"].lower()
    parsed = OrderFilter(values=values)
    errors = parsed.errors
    chosen = [s for s in ORDER_STATUSES if s in statuses]
    if len(chosen) != len(set(statuses)):
        errors["status"] = "unknown status"
    if values["symbol"] and not _SYMBOL_RE.match(values["symbol"]):
        errors["symbol"] = "a ticker in capitals, like AAPL"
    if values["side"] not in ("", *SIDES):
        errors["side"] = "choose buy, sell or any"
    if values["id"] and not _ID_PREFIX_RE.match(values["id"]):
        errors["id"] = "an order id, or its first 4 or more hex digits (as the list shows them)"
    if values["client_order_id"] and not _CLIENT_ID_RE.match(values["client_order_id"]):
        errors["client_order_id"] = "letters, digits and . _ : - only, up to 128"
    since, until = _day(values["since"], "since", errors), _day(values["until"], "until", errors)
    if since and until and until < since:
        errors["until"] = "the end is before the start"
    limit = int(values["limit"]) if ascii_digits(values["limit"]) else 50
    if limit not in PAGE_SIZES:
        limit = 50
    cursor = values["cursor"] if _CURSOR_RE.match(values["cursor"]) else None
    trail = tuple(c for c in values["trail"].split(",") if _CURSOR_RE.match(c))[-MAX_TRAIL:]
    if not errors:
        parsed.query = OrderQuery(
            statuses=tuple(chosen),
            symbol=values["symbol"] or None,
            side=values["side"] or None,
            client_order_id=values["client_order_id"] or None,
            order_id=values["id"] or None,
            created_since=datetime.combine(since, time()).isoformat() if since else None,
            # "until" is a whole day: everything created before the next midnight (UTC).
            created_until=datetime.combine(until + timedelta(days=1), time()).isoformat() if until else None,
            limit=limit,
            cursor=cursor,
        )
        parsed.trail = trail
    values["statuses"] = ",".join(chosen)
    return parsed


def short_ids(ids: list[str]) -> dict[str, str]:
    """Each id's shortest prefix of hex digits (at least ``SHORT_ID_MIN``) that no other id
    in ``ids`` shares: what a list shows, and what the id filter finds again. UUIDv7 ids
    begin with their millisecond, so orders placed together need longer prefixes."""
    digits = {i: i.replace("-", "") for i in ids}
    ordered = sorted(set(digits.values()))
    needed: dict[str, int] = {}
    for left, right in itertools.pairwise(ordered):
        common = next((n for n, (a, b) in enumerate(zip(left, right, strict=False)) if a != b), len(left))
        for value in (left, right):
            needed[value] = max(needed.get(value, SHORT_ID_MIN), common + 1)
    return {i: d[: needed.get(d, SHORT_ID_MIN)] for i, d in digits.items()}


__all__ = [
    "OrderForm",
    "OrderStatus",
    "ParsedForm",
    "parse_order_filter",
    "parse_order_form",
    "parse_reason",
    "short_ids",
]
