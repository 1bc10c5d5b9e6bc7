"""CSV downloads that stream and are audited as actions of their own.

A download is an action: who took which rows, with which filters, out of which
environment. Its attempt is committed before the first byte (no attempt, no download:
fail closed), and its outcome when the stream ends: ``ok`` with the row count, or
``failed`` with how many rows went out when the client went away or the source failed
mid-stream (the status line was sent long before, so only the audit trail can say so).

Rows come from an async iterator the caller builds over keyset batches or a server-side
cursor; they are written out in chunks, so memory stays flat however many rows there are.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import anyio
from fastapi import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from raxx.common.logging import log_event
from raxx.console.audit.events import ActionScope
from raxx.console.audit.export import csv_cell
from raxx.console.audit.routes import audit_context
from raxx.console.audit.service import AuditTrail
from raxx.console.state import ConsoleState

log = logging.getLogger("raxx.console.audit")
#: Rows per chunk sent to the client (and between two checks that it is still there).
CHUNK_ROWS = 500


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV lines (CRLF), every cell neutralized against formula injection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


class CsvBody:
    """The CSV body: a header, then rows in chunks; counts rows and notes a clean end."""

    def __init__(self, header: Iterable[str], rows: AsyncIterator[Iterable[Any]]) -> None:
        self.header, self.rows = list(header), rows
        self.count = 0
        self.finished = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield csv_text([self.header]).encode()
        chunk: list[Iterable[Any]] = []
        async for row in self.rows:
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                yield csv_text(chunk).encode()
                self.count += len(chunk)
                chunk = []
        if chunk:
            yield csv_text(chunk).encode()
            self.count += len(chunk)
        self.finished = True

    async def close(self) -> None:
        aclose = getattr(self.rows, "aclose", None)
        if aclose is not None:
            await aclose()  # release the source's cursor and connection now, not at garbage collection


class AuditedDownload(StreamingResponse):
    """A streamed CSV whose audit outcome is written when the stream ends, however it ends."""

    def __init__(self, body: CsvBody, *, trail: AuditTrail, scope: ActionScope, filename: str) -> None:
        super().__init__(
            body.__aiter__(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"},
        )
        self.source, self.trail, self.scope = body, trail, scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BaseException as exc:
            self.scope.set("failed", error=f"{type(exc).__name__} after {self.source.count} rows")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _finish(self) -> None:
        body, act = self.source, self.scope
        await body.close()
        if body.finished:
            act.set("ok", rows=body.count)
        else:
            act.set("failed", rows=body.count)
            act.error = act.error or f"the client went away after {body.count} rows"
        try:
            await self.trail.outcome(
                act.attempt, act.outcome or "failed", http_status=200, error=act.error, params=act.params
            )
        except Exception as exc:  # the reconciler closes an attempt left open; say why here
            log_event(log, "audit.outcome.failed", level=logging.ERROR, action=act.attempt.action, error=str(exc))


async def audited_download(
    request: Request,
    state: ConsoleState,
    *,
    action: str,
    environment: str | None,
    filters: Mapping[str, Any],
    header: Iterable[str],
    rows: AsyncIterator[Iterable[Any]],
    filename: str,
) -> AuditedDownload:
    """Commit the download's attempt (raises ``AuditUnavailable``: nothing is sent), then
    stream ``rows`` as CSV under ``header``."""
    ctx = await audit_context(request, state, environment=environment)
    attempt = await state.audit.attempt(ctx, action, target=filename, params={"filters": dict(filters)})
    return AuditedDownload(
        CsvBody(header, rows), trail=state.audit, scope=ActionScope(attempt=attempt), filename=filename
    )
