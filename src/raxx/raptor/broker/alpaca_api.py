"""A thin async client for Alpaca's Trading API v2 (the endpoints Raptor uses).

Why not ``alpaca-py``: it imports pandas and numpy (about 130 MB in every slug, slower
cold starts) for the handful of endpoints we call; it is synchronous (Raptor is async);
it sets **no timeout**, so a stalled socket blocks a request forever (alpaca-py#415);
it retries 429/504 on ``POST /v2/orders`` on its own; and its ``APIError.code`` raises
on an empty or non-JSON body (alpaca-py#166). Here: httpx with explicit timeouts, the
account's request budget shared by every Raptor process (``budget.SharedBudget``),
retries only of what is safe to repeat, defensive error parsing, and JSON numbers read
as ``Decimal``.

Retries (tenacity, exponential backoff with full jitter): a 429 (Alpaca refused before
doing anything) and a connection that never opened are retried for every request; a
timeout, a dropped connection or a 5xx only for reads (GET). A submission is never
repeated blindly: the broker looks the order up by its client order id first
(``alpaca.AlpacaBroker._reconcile``), and a cancel that may have arrived is not sent twice.
A 429 waits as Alpaca says (``Retry-After``, else ``X-RateLimit-Reset``) and holds the
shared budget meanwhile, so every worker waits with it; a wait longer than ``MAX_WAIT_S``
is not waited out inside a request.

Authentication is the ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` header pair; the
secret never appears in an exception, a log line or a ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from raxx.common.storable import ascii_digits
from raxx.raptor.broker.budget import BudgetRefused, RequestBudget

RETRYABLE_READ = frozenset({500, 502, 503, 504})
MAX_WAIT_S = 10.0  # the longest a request waits for Alpaca's rate limit (Heroku's router gives up at 30 s)
#: Errors raised before the request left this process: safe to repeat for any method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AlpacaHTTPError(Exception):
    """Alpaca answered with an error status; ``code`` and ``message`` when its body said so."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AlpacaRateLimited(AlpacaHTTPError):
    """429: refused before anything happened; ``wait_s`` is how long Alpaca asks us to wait."""

    def __init__(self, code: int | None, message: str, *, wait_s: float) -> None:
        super().__init__(429, code, message)
        self.wait_s = wait_s


class AlpacaUnreachable(Exception):
    """No answer. ``sent`` False: the request certainly never left (the connection did not
    open, or the account's request budget refused it). Otherwise (a timeout, a dropped
    connection) whether it arrived is unknown, which matters for a submission."""

    def __init__(self, reason: str, *, sent: bool = True, budget: bool = False) -> None:
        super().__init__(reason)
        self.sent = sent
        #: The account's request budget refused it (repeating it now would be refused too).
        self.budget = budget


class AlpacaClient:
    """One method per Trading API endpoint; answers are plain JSON with ``Decimal`` numbers."""

    def __init__(
        self,
        *,
        base_url: str,
        key_id: str,
        secret_key: str,
        budget: RequestBudget | None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        read_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``budget``: the account's shared request budget (Raptor always passes one; None
        means no client-side limit, for tests and one-off tools). ``read_retries``: how many
        times a request that is safe to repeat is tried again."""
        self.base_url = base_url.rstrip("/")
        self.read_retries = read_retries
        self.budget = budget
        self._sleep = sleep
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
        """``POST /v2/orders``. Repeated here only after a 429 or a connection that never
        opened; after a timeout or a 5xx the caller looks the order up by its client order
        id first (``AlpacaBroker._reconcile``)."""
        return await self._object("POST", "/orders", json=body)

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

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        repeatable = method == "GET"
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda exc: _worth_repeating(exc, repeatable=repeatable)),
            wait=_wait_before_retry,
            stop=stop_after_attempt(self.read_retries + 1),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, **kwargs)
        raise AssertionError("tenacity ends by returning or re-raising")  # pragma: no cover

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One attempt: a slot from the account's budget, then the request."""
        if self.budget is not None:
            try:
                await self.budget.take()
            except BudgetRefused as exc:  # not retried: the budget already waited as long as a request may
                raise AlpacaUnreachable(exc.reason, sent=False, budget=True) from None
        try:
            response = await self._http.request(method, path, **kwargs)
        except NOT_SENT as exc:
            raise AlpacaUnreachable(f"cannot connect ({type(exc).__name__})", sent=False) from None
        except httpx.TimeoutException:
            raise AlpacaUnreachable("no answer in time") from None
        except httpx.TransportError as exc:
            raise AlpacaUnreachable(f"the connection failed ({type(exc).__name__})") from None
        await self._note_rate_limit(response)
        if response.status_code == 429:
            limited = _http_error(response)
            wait_s = _wait_for(response)
            if self.budget is not None:
                with contextlib.suppress(BudgetRefused):  # the others then learn it from their own 429
                    await self.budget.hold(wait_s)
            raise AlpacaRateLimited(limited.code, limited.message, wait_s=wait_s)
        if response.status_code >= 400:
            raise _http_error(response)
        return response

    async def _note_rate_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining", "")
        if not ascii_digits(remaining):
            return
        self.rate_limit_remaining = int(remaining)
        if self.rate_limit_remaining == 0 and response.status_code != 429 and self.budget is not None:
            # Alpaca's counter says the window is spent (someone else is using the keys too):
            # nobody sends again before it resets.
            with contextlib.suppress(BudgetRefused):
                await self.budget.hold(_wait_for(response))


def _worth_repeating(exc: BaseException, *, repeatable: bool) -> bool:
    """A 429 or a connection that never opened changed nothing; anything else only for reads."""
    if isinstance(exc, AlpacaRateLimited):
        return exc.wait_s <= MAX_WAIT_S
    if isinstance(exc, AlpacaUnreachable):
        return not exc.budget and (repeatable or not exc.sent)
    if isinstance(exc, AlpacaHTTPError):
        return repeatable and exc.status in RETRYABLE_READ
    return False


def _wait_before_retry(state: RetryCallState) -> float:
    """Alpaca's own wait (plus a little jitter, so the workers do not all return in the same
    instant) after a 429; exponential backoff with full jitter otherwise."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, AlpacaRateLimited):
        return exc.wait_s + random.uniform(0, 0.25)  # noqa: S311 (jitter, not a secret)
    return float(_BACKOFF(state))


_BACKOFF = wait_random_exponential(multiplier=0.25, max=MAX_WAIT_S)


def _decode(response: httpx.Response) -> Any:
    """JSON with numbers as ``Decimal``: money never passes through a float."""
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError:
        return None


def _wait_for(response: httpx.Response) -> float:
    """How long Alpaca asks us to wait: ``Retry-After`` seconds, else until ``X-RateLimit-Reset``
    (epoch seconds on Alpaca's clock: the only place this process's own clock is used, and
    the result is kept within one minute), else one second."""
    retry_after = response.headers.get("Retry-After", "")
    if ascii_digits(retry_after):
        return float(retry_after)
    reset = response.headers.get("X-RateLimit-Reset", "")
    if ascii_digits(reset):
        return min(max(float(reset) - time.time(), 0.0), 60.0)
    return 1.0


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
