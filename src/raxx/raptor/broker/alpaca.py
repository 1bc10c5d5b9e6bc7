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

Within a request, every call ends by the request's deadline (``RAPTOR_BROKER_DEADLINE_S``,
``raxx.raptor.broker.deadline``), whatever its retries and look-ups still had to do: the
caller gets Raptor's answer before Heroku's router gives up on the request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from raxx.common.contracts.service import ReadyCheck
from raxx.common.logging import log_event
from raxx.raptor.broker.alpaca_api import AlpacaClient, AlpacaHTTPError, AlpacaUnreachable
from raxx.raptor.broker.alpaca_wire import (
    FINAL,
    is_raptors,
    money,
    order_body,
    reject_code,
    to_order,
    to_position,
    unavailable,
)
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
from raxx.raptor.broker.deadline import within_deadline

log = logging.getLogger("raxx.raptor.broker.alpaca")
MAX_LIST = 500  # Alpaca's largest page for GET /v2/orders
#: What a read cut by the request's deadline says (``raxx.raptor.broker.deadline``).
_READ = {"cut": "nothing was changed; ask again", "not_sent": "nothing was asked"}


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
        cid = intent.client_order_id
        async with within_deadline(
            cut=f"whether order {cid} reached Alpaca is not known yet", not_sent=f"order {cid} was not sent"
        ):
            return await self._submit(intent)

    async def _submit(self, intent: OrderIntent) -> BrokerOrder:
        body = order_body(intent)
        try:
            return to_order(await self.client.submit_order(body))
        except AlpacaHTTPError as exc:
            if exc.status == 422 and "client_order_id" in exc.message.lower():
                existing = await self.get_by_client_order_id(intent.client_order_id)
                if existing is not None:  # we sent it before; the venue kept the first
                    return existing
            if exc.status in (401, 429):  # refused before anything happened: nothing was placed
                raise unavailable(exc) from None
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
        async with within_deadline(
            cut="the cancel may or may not have been received", not_sent="the cancel was not sent"
        ):
            already = await self._request_cancel(broker_order_id)
        if already is not None:
            return already
        accepted = "alpaca accepted the cancel; the order's final state is not known yet"
        async with within_deadline(cut=accepted, not_sent=accepted):
            return await self._settled(broker_order_id)

    async def _request_cancel(self, broker_order_id: str) -> BrokerOrder | None:
        """Send the cancel; the order itself when Alpaca had canceled it already."""
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
            raise unavailable(exc) from None
        except AlpacaUnreachable as exc:
            if not exc.sent:
                raise BrokerUnavailable(f"alpaca: {exc}; the cancel was not sent") from None
            raise BrokerUnavailable(f"alpaca: {exc}; the cancel may or may not have been received") from None
        return None

    async def _settled(self, broker_order_id: str) -> BrokerOrder:
        waited = 0.0
        while True:
            raw = await self._call(self.client.order(broker_order_id))
            if str(raw.get("status")) in FINAL or waited >= self.cancel_settle_s:
                return to_order(raw)
            await self._sleep(0.2)
            waited += 0.2

    async def get(self, broker_order_id: str) -> BrokerOrder:
        try:
            async with within_deadline(**_READ):
                return to_order(await self.client.order(broker_order_id))
        except AlpacaHTTPError as exc:
            if exc.status in (404, 422):  # 422: not an order id at all
                raise BrokerOrderNotFound("no such order at Alpaca") from None
            raise unavailable(exc) from None
        except AlpacaUnreachable as exc:
            raise BrokerUnavailable(f"alpaca: {exc}") from None

    async def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            async with within_deadline(**_READ):
                return to_order(await self.client.order_by_client_id(client_order_id))
        except AlpacaHTTPError as exc:
            if exc.status == 404:
                return None
            raise unavailable(exc) from None
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
        return [to_order(raw) for raw in raws if is_raptors(raw)]

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
        """A read: its errors are ``BrokerUnavailable``, and it ends by the request's deadline."""
        try:
            async with within_deadline(**_READ):
                return await call
        except AlpacaHTTPError as exc:
            raise unavailable(exc) from None
        except AlpacaUnreachable as exc:
            raise BrokerUnavailable(f"alpaca: {exc}") from None
