"""The Alpaca paper broker: Raptor's ``Broker`` protocol over Alpaca's Trading API.

Each environment has its own Alpaca paper account and keys (``RAPTOR_ALPACA_*``, from
Infisical or config vars). The endpoint is the paper one; the live one is refused by the
settings unless ``RAPTOR_ALPACA_ALLOW_LIVE`` is set, which no deployment of ours does.

Submissions are idempotent by ``client_order_id``, which is always sent. After an
unclear failure (timeout, connection reset, 5xx) the order is looked up by that id
before anything else: found, it is the answer; not found, it is submitted once more
(Alpaca refuses a duplicate id, so that cannot make two orders); still unclear, the
caller gets ``BrokerUnavailable`` and Raptor's sync pass finishes the job later.
A request that never left (the account's shared request budget refused it, or the
connection did not open) is not reconciled: it is simply not sent yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from raxx.common.contracts.service import ReadyCheck
from raxx.common.logging import log_event
from raxx.raptor.broker.alpaca_api import AlpacaClient, AlpacaHTTPError, AlpacaUnreachable
from raxx.raptor.broker.base import (
    BrokerAccount,
    BrokerFill,
    BrokerNotCancelable,
    BrokerOrder,
    BrokerOrderNotFound,
    BrokerPosition,
    BrokerRejected,
    BrokerUnavailable,
    OrderIntent,
    OrderQuery,
)
from raxx.raptor.vocabulary import ORDER_TYPES, TIMES_IN_FORCE, OrderStatus

log = logging.getLogger("raxx.raptor.broker.alpaca")
ZERO = Decimal(0)
MAX_LIST = 500  # Alpaca's largest page for GET /v2/orders

#: Alpaca's order statuses that are final, and what each means in Raptor's terms.
_FINAL: dict[str, OrderStatus] = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "replaced": "canceled",
    "rejected": "rejected",
}
_CANCEL_REASONS = {"expired": "expired at Alpaca", "replaced": "replaced at Alpaca", "canceled": "canceled at Alpaca"}


class AlpacaBroker:
    name = "alpaca"
    shares_raptor_database = False

    def __init__(
        self,
        client: AlpacaClient,
        *,
        live: bool = False,
        cancel_settle_s: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.paper = not live
        self.cancel_settle_s = cancel_settle_s
        self._sleep = sleep
        self._account_number: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the account number (for identity); unreachable is ``BrokerUnavailable``."""
        account = await self._call(self.client.account())
        self._account_number = str(account.get("account_number") or "") or None
        log_event(log, "broker.alpaca.start.ok", account=self._account_number, paper=self.paper)

    async def close(self) -> None:
        await self.client.aclose()

    def identity(self) -> dict[str, object]:
        return {"broker": self.name, "broker_account_id": self._account_number, "paper": self.paper}

    async def ready(self) -> ReadyCheck:
        try:
            account = await self._call(self.client.account())
        except BrokerUnavailable as exc:
            return ReadyCheck(name="broker", ok=False, detail=exc.reason)
        self._account_number = str(account.get("account_number") or "") or self._account_number
        kind = "paper" if self.paper else "LIVE"
        status = str(account.get("status") or "")
        blocked = [flag for flag in ("account_blocked", "trading_blocked") if account.get(flag)]
        if status != "ACTIVE" or blocked:
            why = ", ".join(blocked) or f"status {status or 'unknown'}"
            return ReadyCheck(name="broker", ok=False, detail=f"alpaca {kind} account {self._account_number}: {why}")
        return ReadyCheck(name="broker", ok=True, detail=f"alpaca {kind} account {self._account_number}")

    async def maintain(self) -> None:
        """Nothing to do: Alpaca works orders itself; Raptor's sync pass reads the results."""

    # -- orders ----------------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        body = order_body(intent)
        try:
            return to_order(await self.client.submit_order(body))
        except AlpacaHTTPError as exc:
            if exc.status == 422 and "client_order_id" in exc.message.lower():
                existing = await self.get_by_client_order_id(intent.client_order_id)
                if existing is not None:  # we sent it before; the venue kept the first
                    return existing
            if exc.status in (401, 429):  # refused before anything happened: nothing was placed
                raise _unavailable(exc) from None
            if exc.status < 500:
                raise BrokerRejected(f"alpaca refused the order: {exc.message}", code=reject_code(exc)) from None
            return await self._reconcile(intent, body, f"alpaca answered HTTP {exc.status}")
        except AlpacaUnreachable as exc:
            if not exc.sent:  # nothing left this process; Raptor's sync pass places it later
                raise BrokerUnavailable(f"alpaca: {exc}; order {intent.client_order_id} was not sent") from None
            return await self._reconcile(intent, body, f"alpaca: {exc}")

    async def _reconcile(self, intent: OrderIntent, body: dict[str, Any], why: str) -> BrokerOrder:
        """After an unclear failure: look the order up by client id, then submit once more."""
        cid = intent.client_order_id
        log_event(log, "broker.alpaca.submit.unclear", level=logging.WARNING, client_order_id=cid, reason=why)
        unknown = BrokerUnavailable(f"{why}; whether order {cid} reached Alpaca is not known yet")
        try:
            found = await self.get_by_client_order_id(cid)
        except BrokerUnavailable:
            raise unknown from None
        if found is not None:
            return found
        try:
            return to_order(await self.client.submit_order(body))
        except AlpacaHTTPError as exc:
            if exc.status == 422 and "client_order_id" in exc.message.lower():
                adopted = await self.get_by_client_order_id(cid)
                if adopted is not None:
                    return adopted
            if exc.status < 500 and exc.status not in (401, 429):
                raise BrokerRejected(f"alpaca refused the order: {exc.message}", code=reject_code(exc)) from None
            raise unknown from None
        except AlpacaUnreachable:
            raise unknown from None

    async def cancel(self, broker_order_id: str) -> BrokerOrder:
        """Request the cancel (Alpaca completes it asynchronously), then wait briefly for the
        final state; an order still ``pending_cancel`` comes back open and the sync pass ends it."""
        try:
            await self.client.cancel_order(broker_order_id)
        except AlpacaHTTPError as exc:
            if exc.status == 404:
                raise BrokerOrderNotFound("no such order at Alpaca") from None
            if exc.status == 422:  # not cancelable (or not an order id: then get() says not found)
                current = await self.get(broker_order_id)
                if current.status == "canceled":
                    return current
                raise BrokerNotCancelable(f"alpaca: {exc.message}", order=current) from None
            raise _unavailable(exc) from None
        except AlpacaUnreachable as exc:
            if not exc.sent:
                raise BrokerUnavailable(f"alpaca: {exc}; the cancel was not sent") from None
            raise BrokerUnavailable(f"alpaca: {exc}; the cancel may or may not have been received") from None
        return await self._settled(broker_order_id)

    async def _settled(self, broker_order_id: str) -> BrokerOrder:
        waited = 0.0
        while True:
            raw = await self._call(self.client.order(broker_order_id))
            if str(raw.get("status")) in _FINAL or waited >= self.cancel_settle_s:
                return to_order(raw)
            await self._sleep(0.2)
            waited += 0.2

    async def get(self, broker_order_id: str) -> BrokerOrder:
        try:
            return to_order(await self.client.order(broker_order_id))
        except AlpacaHTTPError as exc:
            if exc.status in (404, 422):  # 422: not an order id at all
                raise BrokerOrderNotFound("no such order at Alpaca") from None
            raise _unavailable(exc) from None
        except AlpacaUnreachable as exc:
            raise BrokerUnavailable(f"alpaca: {exc}") from None

    async def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            return to_order(await self.client.order_by_client_id(client_order_id))
        except AlpacaHTTPError as exc:
            if exc.status == 404:
                return None
            raise _unavailable(exc) from None
        except AlpacaUnreachable as exc:
            raise BrokerUnavailable(f"alpaca: {exc}") from None

    async def list_orders(self, query: OrderQuery) -> list[BrokerOrder]:
        params = {"status": query.status, "limit": str(min(query.limit, MAX_LIST)), "direction": "desc"}
        if query.after is not None:
            params["after"] = query.after.isoformat()
        if query.until is not None:
            params["until"] = query.until.isoformat()
        if query.symbols:
            params["symbols"] = ",".join(query.symbols)
        raws = await self._call(self.client.orders(params))
        # Orders placed on the account by other means (stop, trailing, ioc...) are not Raptor's.
        return [to_order(raw) for raw in raws if _ours(raw)]

    # -- account ---------------------------------------------------------------------

    async def account(self) -> BrokerAccount:
        raw = await self._call(self.client.account())
        long_value = money(raw.get("long_market_value"))
        short_value = money(raw.get("short_market_value"))
        return BrokerAccount(
            account_id=str(raw.get("account_number") or ""),
            paper=self.paper,
            currency=str(raw.get("currency") or "USD"),
            cash=money(raw.get("cash")),
            buying_power=money(raw.get("buying_power")),
            equity=money(raw.get("equity")),
            positions_value=long_value + short_value,
        )

    async def positions(self) -> list[BrokerPosition]:
        return [to_position(raw) for raw in await self._call(self.client.positions())]

    async def _call(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except AlpacaHTTPError as exc:
            raise _unavailable(exc) from None
        except AlpacaUnreachable as exc:
            raise BrokerUnavailable(f"alpaca: {exc}") from None


# -- wire <-> domain -----------------------------------------------------------------------


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
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text)


def status_of(raw: dict[str, Any]) -> OrderStatus:
    """Final statuses map one to one; every other Alpaca status (accepted, pending_new,
    held, pending_cancel, done_for_day, ...) is open: new, or partially filled."""
    status = str(raw.get("status") or "new")
    if status in _FINAL:
        return _FINAL[status]
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


def _ours(raw: dict[str, Any]) -> bool:
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


def _unavailable(exc: AlpacaHTTPError) -> BrokerUnavailable:
    if exc.status in (401, 403):
        return BrokerUnavailable(f"alpaca refused the API keys (HTTP {exc.status}); check RAPTOR_ALPACA_API_KEY_ID")
    if exc.status == 429:
        return BrokerUnavailable("alpaca's rate limit was reached; try again shortly")
    return BrokerUnavailable(f"alpaca answered HTTP {exc.status}: {exc.message}")
