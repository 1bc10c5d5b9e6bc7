"""A console process in a box, for tests that need a real second OS process.

``python -m tests.console.audit.worker append URL COUNT TASKS GO_FILE``
    waits until GO_FILE exists, then appends COUNT events from TASKS concurrent tasks.
``python -m tests.console.audit.worker die-mid-action URL RAPTOR_URL REQUEST_ID``
    writes the attempt, calls Raptor, and is SIGKILLed before the outcome is written.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from raxx.common.db import create_engine
from raxx.console.audit.events import AuditContext
from raxx.console.audit.service import AuditTrail


async def append(url: str, count: int, tasks: int, go_file: Path) -> None:
    engine = create_engine(url, application_name=f"audit-worker-{os.getpid()}", pool_size=tasks)
    trail = AuditTrail(engine)
    async with engine.connect():  # warm the pool: the race starts at "go", not at import time
        pass
    (go_file.parent / f"ready-{os.getpid()}").touch()
    while not go_file.exists():
        await asyncio.sleep(0.01)

    async def writer(index: int, share: int) -> None:
        ctx = AuditContext(actor_name=f"worker-{os.getpid()}-{index}", environment="prod")
        for n in range(share // 2):
            attempt = await trail.attempt(ctx, "order.cancel", target=f"{os.getpid()}-{index}-{n}")
            await trail.outcome(attempt, "ok", http_status=200)
        if share % 2:
            await trail.record(ctx, "env.switch", outcome="ok")

    shares = [count // tasks + (1 if i < count % tasks else 0) for i in range(tasks)]
    await asyncio.gather(*(writer(i, share) for i, share in enumerate(shares)))
    await engine.dispose()


async def die_mid_action(url: str, raptor_url: str, request_id: str) -> None:
    trail = AuditTrail(create_engine(url, application_name="audit-worker-doomed", pool_size=1))
    ctx = AuditContext(actor_name="doomed", environment="staging", request_id=request_id)
    async with trail.action(ctx, "order.cancel", target="ord-42"), httpx.AsyncClient() as client:
        await client.post(f"{raptor_url}/v1/orders/ord-42/cancel", headers={"X-Request-ID": request_id})
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never reached: SIGKILL cannot be caught


def main(argv: list[str]) -> None:
    if argv[0] == "append":
        asyncio.run(append(argv[1], int(argv[2]), int(argv[3]), Path(argv[4])))
    elif argv[0] == "die-mid-action":
        asyncio.run(die_mid_action(argv[1], argv[2], argv[3]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
