"""What a page says after a redirect from an action: fixed sentences chosen by a key.

The key and counts travel in the query string (post/redirect/get); the text never does,
so a crafted link cannot make the console say something it did not.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

_RID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

NOTICES: dict[str, tuple[str, str]] = {
    "placed": ("ok", "Order placed."),
    "replayed": ("ok", "This order form was already submitted: here is the order it placed (nothing new was placed)."),
    "rejected": ("bad", "The order was recorded but the broker REJECTED it; the reason is below."),
    "canceled": ("ok", "Order canceled."),
    "canceled_all": ("ok", "Cancel all: {canceled} order(s) canceled, {failed} could not be canceled."),
    "halted": ("ok", "Trading is now halted. New orders are refused; cancels still work."),
    "resumed": ("ok", "Trading resumed."),
    "role_changed": ("ok", "Role updated."),
    "token_revoked": ("ok", "Token revoked."),
}


def notice_from(request: Request) -> dict[str, Any] | None:
    key = request.query_params.get("done", "")
    if key not in NOTICES:
        return None
    kind, text = NOTICES[key]
    counts = {k: int(v) for k in ("canceled", "failed") if (v := request.query_params.get(k, "")).isdigit()}
    rid = request.query_params.get("rid", "")
    return {
        "kind": kind,
        "key": key,
        "text": text.format(**{"canceled": 0, "failed": 0, **counts}),
        "request_id": rid if _RID_RE.match(rid) else None,
    }
