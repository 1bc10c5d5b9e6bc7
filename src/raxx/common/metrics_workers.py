"""Event metrics across the workers of one dyno (``raxx web`` with ``WEB_CONCURRENCY`` > 1).

With ``PROMETHEUS_MULTIPROC_DIR`` set each worker writes its counters to memory-mapped files
there and a scrape of any worker adds them up (:func:`raxx.common.metrics.exposition`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI

from raxx.common.metrics import MULTIPROC_VAR


def prepare_multiprocess_dir(environ: Mapping[str, str]) -> str:
    """Make this dyno's metrics directory, empty, and point ``PROMETHEUS_MULTIPROC_DIR`` at it.

    Called by ``raxx web`` before any worker starts: ``PROMETHEUS_MULTIPROC_DIR`` if set
    (emptied: files from a previous run would add old counts), else a new temporary
    directory (a dyno's disk is its own), removed when the server exits. The workers
    inherit the variable."""
    path = environ.get(MULTIPROC_VAR)
    if not path:
        path = tempfile.mkdtemp(prefix="raxx-metrics-")
        atexit.register(shutil.rmtree, path, True)  # ours: gone with the server
    os.makedirs(path, exist_ok=True)
    for entry in os.scandir(path):
        if entry.is_file() and entry.name.endswith(".db"):
            os.unlink(entry.path)
        elif entry.is_dir():
            shutil.rmtree(entry.path)
    os.environ[MULTIPROC_VAR] = path
    use_files_if_configured()
    return path


def use_files_if_configured() -> None:
    """prometheus_client picks where values live when first imported; re-pick after the
    variable changed, before any labelled child exists (``raxx web`` does it first)."""
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def mark_dead_on_shutdown(app: FastAPI) -> None:
    """In a worker of a multiprocess server: when the app's lifespan ends, drop this
    process's live gauges (requests in flight), which would otherwise be summed forever.

    In the lifespan, not atexit: uvicorn's workers end by re-raising the SIGTERM they
    received, which kills them before any exit hook runs."""
    path = os.environ.get(MULTIPROC_VAR)
    if not path:
        return
    use_files_if_configured()
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        from prometheus_client import multiprocess

        try:
            async with inner(served) as state:
                yield state
        finally:
            multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]

    app.router.lifespan_context = lifespan
