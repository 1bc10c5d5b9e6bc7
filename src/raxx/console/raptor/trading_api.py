"""One method per Raptor trading endpoint, with typed results.

Every method goes through :meth:`RaptorClient.call`, so every call verifies the
backend's identity before sending credentials and carries ``X-Request-ID`` and
``X-Raxx-Actor`` from the :class:`CallContext`. A non-2xx answer becomes a typed
refusal in plain words (:mod:`raxx.console.raptor.refusals`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from raxx.common.contracts.trading import (
    AccountRead,
    CancelAllResult,
    HaltRequest,
    OrderCreate,
    OrderList,
    OrderRead,
    OrderStatus,
    OrderSummary,
    PositionList,
    TradingStateRead,
)
from raxx.console.raptor.client import CallContext, RaptorClient, RaptorResponse
from raxx.console.raptor.errors import BackendUnavailable
from raxx.console.raptor.refusals import refusal_from

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class OrderQuery:
    """Filters of ``GET /v1/orders`` (all optional)."""

    statuses: tuple[OrderStatus, ...] = ()
    symbol: str | None = None
    side: str | None = None
    client_order_id: str | None = None
    #: An order id or a prefix of one (Raptor matches it as a primary-key range).
    order_id: str | None = None
    created_since: str | None = None
    created_until: str | None = None
    limit: int = 50
    cursor: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "status": list(self.statuses),
            "symbol": self.symbol,
            "side": self.side,
            "client_order_id": self.client_order_id,
            "id": self.order_id,
            "created_since": self.created_since,
            "created_until": self.created_until,
            "limit": self.limit,
            "cursor": self.cursor,
        }


@dataclass(frozen=True)
class Placed:
    order: OrderRead
    created: bool  # False: Raptor returned the order first placed with this client_order_id


class TradingClient:
    """Raptor's trading endpoints in one environment, for one console request."""

    def __init__(self, raptor: RaptorClient, ctx: CallContext) -> None:
        self.raptor = raptor
        self.ctx = ctx

    @property
    def environment(self) -> str:
        return self.raptor.environment

    async def list_orders(self, query: OrderQuery) -> OrderList:
        return self._parse(OrderList, await self._call("GET", "v1/orders", params=query.params()))

    async def order_summary(self) -> OrderSummary:
        return self._parse(OrderSummary, await self._call("GET", "v1/orders/summary"))

    async def get_order(self, order_id: uuid.UUID) -> OrderRead:
        return self._parse(OrderRead, await self._call("GET", f"v1/orders/{order_id}"))

    async def place_order(self, order: OrderCreate) -> Placed:
        response = await self._call("POST", "v1/orders", json=order.model_dump(mode="json", exclude_none=True))
        return Placed(order=self._parse(OrderRead, response), created=response.status == 201)

    async def cancel_order(self, order_id: uuid.UUID) -> OrderRead:
        return self._parse(OrderRead, await self._call("DELETE", f"v1/orders/{order_id}"))

    async def cancel_all(self) -> CancelAllResult:
        return self._parse(CancelAllResult, await self._call("DELETE", "v1/orders"))

    async def positions(self) -> PositionList:
        return self._parse(PositionList, await self._call("GET", "v1/positions"))

    async def account(self) -> AccountRead:
        return self._parse(AccountRead, await self._call("GET", "v1/account"))

    async def trading_state(self) -> TradingStateRead:
        return self._parse(TradingStateRead, await self._call("GET", "v1/trading"))

    async def halt(self, reason: str) -> TradingStateRead:
        body = HaltRequest(reason=reason).model_dump(mode="json")
        return self._parse(TradingStateRead, await self._call("POST", "v1/trading/halt", json=body))

    async def resume(self) -> TradingStateRead:
        return self._parse(TradingStateRead, await self._call("POST", "v1/trading/resume"))

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> RaptorResponse:
        response = await self.raptor.call(method, path, self.ctx, json=json, params=params)
        if not response.ok:
            raise refusal_from(self.raptor.spec, response)
        return response

    def _parse(self, model: type[M], response: RaptorResponse) -> M:
        try:
            return model.model_validate(response.body)
        except ValidationError as exc:
            # Raptor answered 2xx with something we cannot read: a version skew, never the user's fault.
            unreadable = BackendUnavailable(
                f"{self.raptor.spec.label} Raptor answered HTTP {response.status} in an unexpected shape "
                f"({exc.error_count()} problem(s) reading {model.__name__}); reload to see the current state",
                code="bad_backend_response",
                extra={"request_id": response.request_id},
            )
            unreadable.audit_outcome = "ok"  # a 2xx: Raptor did act, only its answer is unreadable
            raise unreadable from None
