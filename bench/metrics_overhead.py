"""What counting a request costs: the metrics middleware around a do-nothing ASGI app.

    python bench/metrics_overhead.py [--requests 20000] [--rounds 7]

Times, interleaved per round, medians over rounds, the same in-process request (no
network, no server) through: ``bare`` (the app alone), ``memory`` (``HttpMetricsMiddleware``
with the in-process registry: one worker) and ``files`` (the same with
``PROMETHEUS_MULTIPROC_DIR``: every value written to a memory-mapped file, as with
``WEB_CONCURRENCY`` > 1), plus Raptor's own per-submission counting
(``RaptorMetrics.submission``) on top. Prints microseconds per request added by each; the
order path's whole cost per request is in ``bench/README.md`` (Raptor order path).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from typing import Any

from raxx.common import metrics, metrics_workers


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


def _scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/orders", metrics.ROUTE_KEY: "/v1/orders"}


async def _per_request(app: Any, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await app(_scope(), _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


async def _submission(counts: Any, n: int) -> float:
    async def placed() -> Any:
        return (b"", True)

    from raxx.raptor.order.submission import Submitted

    started = time.perf_counter()
    for _ in range(n):
        await counts.submission(_as(placed(), Submitted))
    return (time.perf_counter() - started) / n * 1e6


async def _as(call: Any, cls: Any) -> Any:
    return cls(*(await call))


async def main(requests: int, rounds: int) -> None:
    from raxx.raptor.metrics import RaptorMetrics

    timed: dict[str, list[float]] = {"bare": [], "memory": [], "files": [], "submission": []}
    memory = metrics.HttpMetricsMiddleware(_noop, app_name="raptor", environment_of=lambda scope: "staging")
    with tempfile.TemporaryDirectory() as path:
        for _ in range(rounds):
            os.environ.pop(metrics.MULTIPROC_VAR, None)
            metrics_workers.use_files_if_configured()
            timed["bare"].append(await _per_request(_noop, requests))
            timed["memory"].append(await _per_request(memory, requests))
            os.environ[metrics.MULTIPROC_VAR] = path
            metrics_workers.use_files_if_configured()
            files = metrics.HttpMetricsMiddleware(_noop, app_name="raptor", environment_of=lambda scope: "prod")
            timed["files"].append(await _per_request(files, requests))
            timed["submission"].append(await _submission(RaptorMetrics("prod"), requests))
    bare = statistics.median(timed["bare"])
    print(f"{'variant':12} {'us/request':>10} {'added':>8}")
    for name, values in timed.items():
        median = statistics.median(values)
        added = median if name == "submission" else median - bare
        print(f"{name:12} {median:10.2f} {added:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
