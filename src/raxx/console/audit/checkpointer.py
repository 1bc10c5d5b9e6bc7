"""Making checkpoints: verify the chain since the last one, then sign its head and store it.

Apart from ``checkpoint.py`` (what a checkpoint is, its keys and files) because it needs
``verify.py``, which needs ``checkpoint.py``: one direction only, no import cycle.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from raxx.common.clock import Clock, SystemClock
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.console.audit import repository
from raxx.console.audit.canonical import GENESIS_HASH
from raxx.console.audit.checkpoint import Checkpoint, CheckpointSigner
from raxx.console.audit.verify import verify_since_last_checkpoint

log = logging.getLogger("raxx.console.audit.checkpoint")


class ChainNotSignable(RaxxError):
    """The chain does not verify since the last checkpoint, so no new checkpoint is signed."""

    status_code = 409
    code = "audit_chain_broken"
    exit_code = 3


async def create_checkpoint(
    engine: AsyncEngine, signer: CheckpointSigner, *, clock: Clock | None = None, check: bool = True
) -> Checkpoint:
    """Verify the chain since the last good checkpoint, then sign and store its head.

    Refuses (:class:`ChainNotSignable`) when the chain does not verify: a checkpoint
    vouches for what it signs, so it never signs a broken or rewritten chain.
    """
    if check:
        report = await verify_since_last_checkpoint(engine, signer.verifier)
        if not report.ok:
            raise ChainNotSignable(f"not signing a checkpoint: {report.summary()}")
    async with engine.connect() as conn:
        head = await repository.head(conn)
        checkpoint = signer.checkpoint(
            head.seq if head else 0, head.hash if head else GENESIS_HASH, (clock or SystemClock()).now()
        )
        await repository.insert_checkpoint(conn, _checkpoint_row(checkpoint))
        await conn.commit()
    log_event(log, "audit.checkpoint.ok", seq=checkpoint.seq, hash=checkpoint.hash, key_id=checkpoint.key_id)
    return checkpoint


def _checkpoint_row(cp: Checkpoint) -> dict[str, Any]:
    return {
        "checkpoint_id": cp.checkpoint_id,
        "seq": cp.seq,
        "hash": cp.hash,
        "created_at": cp.created_at,
        "origin": cp.origin,
        "algorithm": cp.algorithm,
        "key_id": cp.key_id,
        "signature": cp.signature,
    }


async def run_periodic_checkpoints(
    engine: AsyncEngine,
    signer: CheckpointSigner,
    *,
    interval: timedelta = timedelta(minutes=15),
    clock: Clock | None = None,
) -> None:
    """Sign a checkpoint every ``interval``, also when idle (a gap in checkpoints is itself a signal).

    Meant to run as a task in the console's lifespan; cancel it to stop. A failure is
    logged and retried at the next tick, never fatal to the console.
    """
    while True:
        try:
            await create_checkpoint(engine, signer, clock=clock)
        except RaxxError as exc:
            log_event(log, "audit.checkpoint.failed", level=logging.ERROR, detail=str(exc.detail))
        except Exception as exc:  # the loop must outlive a database restart
            log_event(log, "audit.checkpoint.failed", level=logging.ERROR, error=type(exc).__name__)
        await asyncio.sleep(interval.total_seconds())
