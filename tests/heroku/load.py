"""The scenario's clients: N concurrent order submitters over the router (aiohttp, TLS verified).

Every request carries a unique ``client_order_id`` (``<tag>-<client>-<n>``), so the
database can be checked afterwards against what each client was told. With
``retry=True`` a client behaves as a careful script does during a restart: an order that
got no answer or a 503 is sent again with the same id (idempotent) until it gets a final
answer, honouring ``Retry-After`` (else waiting 0.2 s, doubling up to 2 s).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

FINAL_WAIT_S = 45.0  # a retrying client gives up this long after the load's end


@dataclass
class LoadResult:
    tag: str
    clients: int
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    router_errors: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    timeouts: int = 0
    latencies: list[float] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # request tags (client order ids) answered 2xx
    unanswered: set[str] = field(default_factory=set)  # ids that never got a final answer
    samples: list[str] = field(default_factory=list)  # bodies of unexpected answers
    too_many_connections: int = 0  # answers whose body names PostgreSQL's refusal

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.dropped + self.timeouts

    def count(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status < high)

    @property
    def server_errors_not_503(self) -> int:
        return self.count(500, 600) - self.statuses[503]

    @property
    def share_503(self) -> float:
        return self.statuses[503] / self.requests if self.requests else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "requests": self.requests,
            "per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "router_errors": dict(self.router_errors),
            "dropped_connections": self.dropped,
            "too_many_connections_in_answers": self.too_many_connections,
            "timeouts": self.timeouts,
            "share_503": round(self.share_503, 4),
            "p50_ms": round(self.percentile(0.5) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 1),
            "accepted_orders": len(self.accepted),
            "unanswered_orders": len(self.unanswered),
            "samples": self.samples[:3],
        }


def order_body(client_order_id: str, n: int) -> dict[str, str]:
    """Buys and sells of one share in turn: the paper account's cash and position stay bounded."""
    return {
        "symbol": "AAPL",
        "side": "buy" if n % 2 == 0 else "sell",
        "type": "market",
        "quantity": "1",
        "client_order_id": client_order_id,
    }


async def submit_orders(
    url: str,
    token: str,
    *,
    tag: str,
    clients: int,
    seconds: float,
    ssl_context: ssl.SSLContext,
    retry: bool = False,
    method: str = "POST",
    body: Callable[[str, int], dict[str, str]] | None = order_body,
    request_timeout_s: float = 35.0,
) -> LoadResult:
    """``clients`` coroutines sending ``method url`` (by default: orders) for ``seconds``;
    what each was answered. Each request is tagged ``<tag>-<client>-<n>``: the order's
    client id, or just a name with ``method="GET", body=None`` (a dashboard's polling)."""
    result = LoadResult(tag, clients, seconds)
    headers = {"Authorization": f"Bearer {token}", "X-Raxx-Actor": "heroku-local load"}
    connector = aiohttp.TCPConnector(limit=clients, ssl=ssl_context)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:

        async def one(request_tag: str, n: int) -> tuple[bool, float]:
            """One attempt: (final answer received, seconds to wait before retrying)."""
            started = time.monotonic()
            try:
                json_body = body(request_tag, n) if body else None
                async with session.request(method, url, json=json_body) as response:
                    text = await response.text()
                    result.latencies.append(time.monotonic() - started)
                    result.too_many_connections += "too many connections" in text
                    result.statuses[response.status] += 1
                    if router := response.headers.get("X-Heroku-Local-Error"):
                        result.router_errors[router] += 1
                    if 200 <= response.status < 300:
                        result.accepted.add(request_tag)
                        return True, 0.0
                    if response.status >= 500 and response.status != 503 and len(result.samples) < 5:
                        result.samples.append(f"{response.status} {text[:300]}")
                    if response.status == 503:
                        return False, float(response.headers.get("Retry-After", "0.2") or 0.2)
                    return response.status < 500, 0.2
            except TimeoutError:
                result.timeouts += 1
            except aiohttp.ClientError as exc:
                result.dropped += 1
                if len(result.samples) < 5:
                    result.samples.append(f"dropped: {type(exc).__name__}: {exc}")
            result.latencies.append(time.monotonic() - started)
            return False, 0.2

        async def client(number: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                request_tag = f"{tag}-{number}-{n}"
                final, wait = await one(request_tag, n)
                backoff = 0.2
                while retry and not final:
                    if time.monotonic() > deadline + FINAL_WAIT_S:
                        result.unanswered.add(request_tag)
                        break
                    await asyncio.sleep(min(max(wait, backoff), 2.0))  # Retry-After, else doubling
                    backoff *= 2
                    final, wait = await one(request_tag, n)

        await asyncio.gather(*(client(i) for i in range(clients)))
    return result
