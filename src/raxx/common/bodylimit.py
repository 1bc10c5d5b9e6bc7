"""An entrance layer (``DoorsApp(entrance=...)``): no request body larger than the app takes is read.

A body whose ``Content-Length`` is over the limit is refused 413 ``body_too_large`` before a
byte of it is read; one sent without a length (chunked) as soon as its bytes pass the limit.
A body within it is read here and replayed to the door that answers, so no layer behind can
hold more than the limit. Raptor's entrance (``raxx.raptor.intake``) checks its caller first
and its size the same way; the console's pages and JSON API take this one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.asgi import read_body, replaying
from raxx.common.doors import through_entrance
from raxx.common.errors import BodyTooLarge

_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimit:
    """Refuses a request body over ``max_body`` bytes (413), replays one within it."""

    def __init__(self, app: ASGIApp, *, max_body: int, setting: str) -> None:
        self.app = app
        self.max_body = max_body
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A read's body is read by nobody (no GET route takes one): the hot reads pass at once.
        reads = scope["type"] != "http" or scope["method"] in _BODYLESS
        declared = None if reads else _declared_body(scope)
        if declared is None:
            await self.app(scope, receive, send)
            return
        await through_entrance(self.app, scope, receive, send, lambda: self._admit(receive, declared))

    async def _admit(self, receive: Receive, length: int) -> Receive:
        if length > self.max_body:
            raise self._too_large()
        messages, over = await read_body(receive, self.max_body)
        if over:
            raise self._too_large()
        return replaying(messages, receive)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the body is larger than {self.max_body} bytes ({self.setting}); nothing was read or done",
            extra={"max_bytes": self.max_body},
        )


def _declared_body(scope: Scope) -> int | None:
    """The body's declared length (0 for a chunked one: its size shows as it comes), or None
    for a request without a body."""
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return 0
        if name == b"content-length":
            # The server has parsed it already (h11 and httptools refuse a malformed one).
            length = int(value) if value.isdigit() else 0
    return length if length else None
