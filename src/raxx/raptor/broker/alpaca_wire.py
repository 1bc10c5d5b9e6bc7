"""Alpaca's JSON and Raptor's broker types, both ways: orders, positions, money, statuses
and Alpaca's errors in Raptor's words. Money and quantities never pass through a float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from raxx.common.storable import ascii_digits
from raxx.raptor.broker.alpaca_api import AlpacaHTTPError
from raxx.raptor.broker.base import BrokerFill, BrokerOrder, BrokerPosition, BrokerUnavailable, OrderIntent
from raxx.raptor.vocabulary import ORDER_TYPES, TIMES_IN_FORCE, OrderStatus

ZERO = Decimal(0)
#: Alpaca's order statuses that are final, and what each means in Raptor's terms.
FINAL: dict[str, OrderStatus] = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "replaced": "canceled",
    "rejected": "rejected",
}
_CANCEL_REASONS = {"expired": "expired at Alpaca", "replaced": "replaced at Alpaca", "canceled": "canceled at Alpaca"}


def order_body(intent: OrderIntent) -> dict[str, Any]:
    """``POST /v2/orders``: quantities and prices as strings (no float rounding on the wire)."""
    body: dict[str, Any] = {
        "symbol": intent.symbol,
        "qty": _wire(intent.quantity),
        "side": intent.side,
        "type": intent.type,
        "time_in_force": intent.time_in_force,
        "client_order_id": intent.client_order_id,
    }
    if intent.limit_price is not None:
        body["limit_price"] = _wire(intent.limit_price)
    return body


def _wire(value: Decimal) -> str:
    return format(value.normalize(), "f")


def money(value: Any) -> Decimal:
    """Alpaca sends money and quantities as strings (sometimes numbers); never through float."""
    if value is None or value == "":
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise BrokerUnavailable(f"alpaca sent a number Raptor cannot read: {str(value)[:40]!r}") from None


def _maybe_money(value: Any) -> Decimal | None:
    return None if value is None or value == "" else money(value)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # Alpaca sends nanoseconds (9 digits); Python reads at most 6.
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if ascii_digits(c))
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text)


def status_of(raw: dict[str, Any]) -> OrderStatus:
    """Final statuses map one to one; every other Alpaca status (accepted, pending_new,
    held, pending_cancel, done_for_day, ...) is open: new, or partially filled."""
    status = str(raw.get("status") or "new")
    if status in FINAL:
        return FINAL[status]
    return "partially_filled" if money(raw.get("filled_qty")) > 0 else "new"


def to_order(raw: dict[str, Any]) -> BrokerOrder:
    created = _when(raw.get("created_at")) or _when(raw.get("submitted_at"))
    if created is None:
        raise BrokerUnavailable("alpaca sent an order without created_at")
    updated = _when(raw.get("updated_at")) or created
    filled = money(raw.get("filled_qty"))
    average = _maybe_money(raw.get("filled_avg_price"))
    filled_at = _when(raw.get("filled_at"))
    alpaca_status = str(raw.get("status") or "")
    status = status_of(raw)
    # The order carries the aggregate fill; per-execution fills are account activities.
    fills = (BrokerFill(quantity=filled, price=average, at=filled_at or updated),) if filled > 0 and average else ()
    return BrokerOrder(
        broker_order_id=str(raw["id"]),
        client_order_id=str(raw.get("client_order_id") or ""),
        symbol=str(raw.get("symbol") or ""),
        side=cast(Any, raw.get("side")),
        type=cast(Any, raw.get("type") or raw.get("order_type")),
        time_in_force=cast(Any, raw.get("time_in_force")),
        quantity=money(raw.get("qty")),
        limit_price=_maybe_money(raw.get("limit_price")),
        status=status,
        filled_quantity=filled,
        filled_avg_price=average,
        created_at=created,
        updated_at=updated,
        fills=fills,
        canceled_at=(_when(raw.get("canceled_at")) or _when(raw.get("expired_at"))) if status == "canceled" else None,
        filled_at=filled_at if status == "filled" else None,
        cancel_reason=_CANCEL_REASONS.get(alpaca_status) if status == "canceled" else None,
    )


def is_raptors(raw: dict[str, Any]) -> bool:
    kind = raw.get("type") or raw.get("order_type")
    return kind in ORDER_TYPES and raw.get("time_in_force") in TIMES_IN_FORCE and raw.get("qty") is not None


def to_position(raw: dict[str, Any]) -> BrokerPosition:
    quantity = money(raw.get("qty"))
    return BrokerPosition(
        symbol=str(raw.get("symbol") or ""),
        quantity=quantity,
        available=money(raw.get("qty_available")) if raw.get("qty_available") is not None else quantity,
        avg_entry_price=money(raw.get("avg_entry_price")),
        cost_basis=money(raw.get("cost_basis")),
        current_price=money(raw.get("current_price")),
        market_value=money(raw.get("market_value")),
        unrealized_pl=money(raw.get("unrealized_pl")),
    )


def reject_code(exc: AlpacaHTTPError) -> str:
    """Raptor's reject codes, from Alpaca's status and message (its numeric codes are coarse:
    40310000 covers buying power and quantity alike)."""
    message = exc.message.lower()
    if "buying power" in message:
        return "insufficient_buying_power"
    if "qty" in message and ("insufficient" in message or "available" in message):
        return "insufficient_position"
    if "not found" in message or "not tradable" in message or "asset" in message:
        return "unknown_symbol"
    if "blocked" in message:
        return "account_blocked"
    if exc.status == 403:
        return "forbidden"
    return "invalid_order"


def unavailable(exc: AlpacaHTTPError) -> BrokerUnavailable:
    if exc.status in (401, 403):
        return BrokerUnavailable(f"alpaca refused the API keys (HTTP {exc.status}); check RAPTOR_ALPACA_API_KEY_ID")
    if exc.status == 429:
        return BrokerUnavailable("alpaca's rate limit was reached; try again shortly")
    return BrokerUnavailable(f"alpaca answered HTTP {exc.status}: {exc.message}")
