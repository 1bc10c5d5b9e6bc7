"""What a page says after a redirect from an action: one-time notices kept on the server.

The action stores the notice (a key of :data:`NOTICES`, counts) for *its* session, request
id and environment (``console_flash``) and redirects with ``?notice=<request id>``; the page
it lands on takes that notice, once, if the same session left it for a page of the same
environment. Neither the text nor the key ever travels in the URL, so a crafted link
(``?done=placed``, another session's request id, a reload) shows nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from raxx.common.asgi import request_id_of
from raxx.common.clock import utcnow
from raxx.console.auth import repository
from raxx.console.auth.service import Login

_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: A notice nobody came to see within this long is dropped.
NOTICE_TTL = timedelta(minutes=10)

NOTICES: dict[str, tuple[str, str]] = {
    "placed": ("ok", "Order placed."),
    "replayed": ("ok", "This order form was already submitted: here is the order it placed (nothing new was placed)."),
    "rejected": ("bad", "The order was recorded but the broker REJECTED it; the reason is below."),
    "canceled": ("ok", "Order canceled."),
    "canceled_all": ("ok", "Cancel all: {canceled} order(s) canceled."),
    "canceled_some": (
        "bad",
        "Cancel all: {canceled} order(s) canceled, {failed} NOT canceled: the broker refused them or did not"
        " answer in time. They are still open (listed below); cancel all again, or one by one.",
    ),
    "halted": ("ok", "Trading is now halted. New orders are refused; cancels still work."),
    "already_halted": (
        "bad",
        "Trading was already halted: nothing changed, and your reason was not taken."
        " The halt in force (since when, by whom, why) is below.",
    ),
    "resumed": ("ok", "Trading resumed."),
    "not_halted": ("bad", "Trading was not halted: nothing changed."),
    "role_changed": ("ok", "Role updated."),
    "token_revoked": ("ok", "Token revoked."),
}


async def redirect_with_notice(
    request: Request, db: AsyncSession, login: Login, url: str, key: str, *, environment: str | None, **counts: int
) -> RedirectResponse:
    """Post/redirect/get: keep the notice ``key`` for this session and request, then send
    the browser to ``url`` (a page of ``environment``) with ``?notice=<request id>``."""
    if key not in NOTICES:
        raise ValueError(f"not a notice: {key!r}")
    request_id = request_id_of(request)
    await repository.add_flash(
        db,
        session_hash=login.session_hash,
        request_id=request_id,
        environment=environment,
        key=key,
        counts={k: int(v) for k, v in counts.items()},
        stale_before=utcnow() - NOTICE_TTL,
    )
    return RedirectResponse(f"{url}?notice={request_id}", status_code=303)


async def notice_from(
    request: Request, db: AsyncSession, login: Login, *, environment: str | None
) -> dict[str, Any] | None:
    """The notice this page was sent here to show, taken (a reload shows it no more)."""
    rid = request.query_params.get("notice", "")
    if not _RID_RE.match(rid):
        return None
    found = await repository.take_flash(
        db, session_hash=login.session_hash, request_id=rid, environment=environment, since=utcnow() - NOTICE_TTL
    )
    if found is None or found[0] not in NOTICES:
        return None
    key, counts = found
    kind, text = NOTICES[key]
    return {
        "kind": kind,
        "key": key,
        "text": text.format(**{"canceled": 0, "failed": 0, **counts}),
        "request_id": rid,
    }
