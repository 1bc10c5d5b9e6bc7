"""A thin async client for Alpaca's Trading API v2 (the endpoints Raptor uses).

Why not ``alpaca-py``: it imports pandas and numpy (about 130 MB in every slug, slower
cold starts) for the handful of endpoints we call; it is synchronous (Raptor is async);
it sets **no timeout**, so a stalled socket blocks a request forever (alpaca-py#415);
it retries 429/504 on ``POST /v2/orders`` on its own; and its ``APIError.code`` raises
on an empty or non-JSON body (alpaca-py#166). Here: httpx with explicit timeouts, a
client-side request budget under Alpaca's 200/min per account, no blind retry of a
submission, defensive error parsing, and JSON numbers read as ``Decimal``.

Authentication is the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` header pair; the
secret never appears in an exception, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx

RETRYABLE_READ = frozenset({500, 502, 503, 504})
MAX_WAIT_S = 10.0


class AlpacaHTTPError(Exception):
    """Alpaca answered with an error status; ``code`` and ``message`` when its body said so."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AlpacaUnreachable(Exception):
    """No answer (connect failure, timeout): for a submission, whether it arrived is unknown."""


class RequestBudget:
    """A token bucket: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self._monotonic = monotonic
        self._updated = monotonic()
        self._lock = asyncio.Lock()

    async def take(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        async with self._lock:
            now = self._monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                await sleep(wait)
                self.tokens += wait * self.rate
                self._updated = self._monotonic()
            self.tokens -= 1


class AlpacaClient:
    """One method per Trading API endpoint; answers are plain JSON with ``Decimal`` numbers."""

    def __init__(
        self,
        *,
        base_url: str,
        key_id: str,
        secret_key: str,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        requests_per_minute: int = 150,
        read_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.read_retries = read_retries
        self._sleep = sleep
        self._budget = RequestBudget(requests_per_minute)
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/v2",
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            headers={
                "APCA-API-KEY-ID": key_id,
                "APCA-API-SECRET-KEY": secret_key,
                "Accept": "application/json",
                "User-Agent": "raxx-raptor",
            },
        )
        #: ``X-RateLimit-Remaining`` from the last answer, when Alpaca sent it.
        self.rate_limit_remaining: int | None = None

    def __repr__(self) -> str:
        return f"AlpacaClient({self.base_url})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- endpoints ---------------------------------------------------------------------

    async def account(self) -> dict[str, Any]:
        return await self._object("GET", "/account")

    async def positions(self) -> list[dict[str, Any]]:
        return await self._list("GET", "/positions")

    async def submit_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v2/orders``. Never retried here on a timeout or 5xx: the caller reconciles
        by client order id first (a retried submission could be a second order)."""
        return await self._object("POST", "/orders", json=body, submission=True)

    async def order(self, order_id: str) -> dict[str, Any]:
        return await self._object("GET", f"/orders/{order_id}")

    async def order_by_client_id(self, client_order_id: str) -> dict[str, Any]:
        return await self._object("GET", "/orders:by_client_order_id", params={"client_order_id": client_order_id})

    async def orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return await self._list("GET", "/orders", params=params)

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{id}``: 204 when the cancel is accepted (it completes asynchronously)."""
        await self._request("DELETE", f"/orders/{order_id}")

    # -- plumbing ----------------------------------------------------------------------

    async def _object(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = _decode(await self._request(method, path, **kwargs))
        if not isinstance(body, dict):
            raise AlpacaHTTPError(502, None, f"{method} {path} answered without a JSON object")
        return body

    async def _list(self, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        body = _decode(await self._request(method, path, **kwargs))
        if not isinstance(body, list):
            raise AlpacaHTTPError(502, None, f"{method} {path} answered without a JSON list")
        return [item for item in body if isinstance(item, dict)]

    async def _request(self, method: str, path: str, *, submission: bool = False, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            await self._budget.take(self._sleep)
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TimeoutException:
                if submission or attempt >= self.read_retries:
                    raise AlpacaUnreachable("no answer in time") from None
                attempt += 1
                continue
            except httpx.TransportError as exc:
                if submission or attempt >= self.read_retries:
                    raise AlpacaUnreachable(f"cannot connect ({type(exc).__name__})") from None
                attempt += 1
                continue
            self._note_rate_limit(response)
            retry = response.status_code == 429 or (not submission and response.status_code in RETRYABLE_READ)
            if retry and attempt < self.read_retries:
                # A 429 is refused before anything happens, so even a submission may retry it.
                attempt += 1
                await self._sleep(_wait_for(response, attempt))
                continue
            if response.status_code >= 400:
                raise _http_error(response)
            return response

    def _note_rate_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        if remaining.isdigit():
            self.rate_limit_remaining = int(remaining)


def _decode(response: httpx.Response) -> Any:
    """JSON with numbers as ``Decimal``: money never passes through a float."""
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        return None


def _wait_for(response: httpx.Response, attempt: int) -> float:
    """``Retry-After`` seconds, else ``X-RateLimit-Reset`` (epoch seconds), else backoff; capped."""
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.isdigit():
        return min(float(retry_after), MAX_WAIT_S)
    reset = response.headers.get("X-RateLimit-Reset", "")
    if reset.isdigit():
        return min(max(float(reset) - time.time(), 0.0), MAX_WAIT_S)
    return min(0.5 * 2.0**attempt, MAX_WAIT_S)


def _http_error(response: httpx.Response) -> AlpacaHTTPError:
    """Read the status first; the body may be empty or not JSON (alpaca-py#166)."""
    body = _decode(response)
    code = body.get("code") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    return AlpacaHTTPError(
        response.status_code,
        int(code) if isinstance(code, int | Decimal) else None,
        str(message)[:300] if message else (response.reason_phrase or "error"),
    )
