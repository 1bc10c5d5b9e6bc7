"""Raptor's entrance: what a request that carries a body passes before anything reads it.

It stands in front of both doors (``raxx.common.doors``: inside the app's error page, before
the order fast path and the routes), so neither can read a body first:

1. the token (``deps.authenticate``): a request without one, with a refused one or with
   another environment's is answered 401 without a byte of its body read, and the verifier
   counts and logs it as for any other request;
2. the size: a ``Content-Length`` over ``RAPTOR_MAX_BODY_BYTES`` is refused 413
   ``body_too_large`` at once, a body without one (chunked) as soon as its bytes pass it;
   never is more than that held;
3. the media type: Raptor reads JSON only, declared so (``application/json`` or a
   ``+json`` type, compared without case or parameters); anything else, or none, is 415
   ``unsupported_media_type``.

The body read here is replayed to the door that answers, and the caller verified here is
the one both doors take (``deps.ADMITTED``): the token is verified once per request. A
request without a body passes untouched; its token is checked by the door, as before.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.asgi import media_type_of, read_body, reads_as_json, replaying
from raxx.common.doors import is_refusal, render_refusal
from raxx.common.errors import BodyTooLarge, UnsupportedMediaType
from raxx.raptor.deps import ADMITTED, authenticate, bearer_token


class RequestIntake:
    """Admits a request's body only from a verified caller, within the limit, as JSON."""

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = _BodyHead.of(scope) if scope["type"] == "http" else None
        if head is None:
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._admit(scope, receive, head)
        except Exception as exc:
            if not is_refusal(scope, exc):
                raise
            await render_refusal(scope, receive, send, exc)
            return
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, receive: Receive, head: _BodyHead) -> Receive:
        """The caller, then the declared size and type, then the body itself (replayed)."""
        scope[ADMITTED] = await authenticate(scope["app"].state.raptor, bearer_token(head.authorization), None)
        if head.length is not None and head.length > self.max_body:
            raise self._too_large()
        media = media_type_of(head.content_type)
        if not reads_as_json(media):
            raise UnsupportedMediaType.not_json(media)
        messages, over = await read_body(receive, self.max_body)
        if over:
            raise self._too_large()
        return replaying(messages, receive)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the body is larger than {self.max_body} bytes; an order is well under 1 KiB",
            extra={"max_bytes": self.max_body},
        )


class _BodyHead:
    """The headers that say whether a request carries a body, and what the entrance checks."""

    __slots__ = ("authorization", "content_type", "length")

    def __init__(self, authorization: str | None, content_type: str, length: int | None) -> None:
        self.authorization, self.content_type, self.length = authorization, content_type, length

    @classmethod
    def of(cls, scope: Scope) -> _BodyHead | None:
        """None for a request without a body (no ``Content-Length`` but 0, no ``Transfer-Encoding``).
        The first of repeated headers counts, as Starlette's ``Headers.get`` reads them."""
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED:
                found.setdefault(name, value)
        length = found.get(b"content-length")
        if b"transfer-encoding" not in found and (length is None or length == b"0"):
            return None
        authorization = found.get(b"authorization")
        return cls(
            authorization.decode("latin-1") if authorization is not None else None,
            found.get(b"content-type", b"").decode("latin-1"),
            int(length) if length is not None and length.isdigit() else None,
        )


_WANTED = frozenset({b"authorization", b"content-type", b"content-length", b"transfer-encoding"})
