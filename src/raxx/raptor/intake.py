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
   ``unsupported_media_type``;
4. an object key given twice (``{"quantity": "1", "quantity": "1000000"}``) is 422
   ``validation_error`` naming it: which one was meant is not guessed (``repeated_json_keys``).

Before all three, for every request, body or not: a header Raptor acts on that must appear
once (``Authorization``, ``X-Raxx-Actor``, ``X-Request-ID``, ``Content-Type``,
``Content-Length``) appearing twice is refused 400 ``repeated_header``: which one counts is
not for Raptor to guess (RFC 9110 5.3: they are not lists), and an actor named twice would
be recorded as the first.

The body read here is replayed to the door that answers, and the caller verified here is
the one both doors take (``deps.ADMITTED``): the token is verified once per request. The
body as JSON is left for the order fast path too (``deps.ADMITTED_JSON``): parsed once. A
request without a body passes untouched; its token is checked by the door, as before.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from raxx.common.asgi import (
    REPEATED_KEY,
    bearer_token,
    media_type_of,
    read_body,
    read_json,
    reads_as_json,
    repeated_json_keys,
    replaying,
)
from raxx.common.doors import through_entrance
from raxx.common.errors import BodyTooLarge, RepeatedHeader, UnsupportedMediaType, field_errors
from raxx.raptor.deps import ADMITTED, ADMITTED_JSON, authenticate


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
        await through_entrance(self.app, scope, receive, send, lambda: self._admit(scope, receive, head))

    async def _admit(self, scope: Scope, receive: Receive, head: _BodyHead) -> Receive:
        """No header twice, the caller, then the declared size and type, then the body itself (replayed)."""
        if head.repeated is not None:
            raise RepeatedHeader(head.repeated)
        scope[ADMITTED] = await authenticate(scope["app"].state.raptor, bearer_token(head.authorization), None)
        if head.length is not None and head.length > self.max_body:
            raise self._too_large()
        media = media_type_of(head.content_type)
        if not reads_as_json(media):
            raise UnsupportedMediaType.not_json(media)
        messages, over = await read_body(receive, self.max_body)
        if over:
            raise self._too_large()
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        parsed = read_json(body)
        if repeated := repeated_json_keys(body, parsed):
            raise field_errors(dict.fromkeys(repeated, REPEATED_KEY))
        scope[ADMITTED_JSON] = parsed  # the order fast path reads this, not the bytes again
        return replaying(messages, receive)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the body is larger than {self.max_body} bytes; an order is well under 1 KiB",
            extra={"max_bytes": self.max_body},
        )


class _BodyHead:
    """The headers that say whether a request carries a body, what the entrance checks, and
    the first singleton header that is repeated (None: none is)."""

    __slots__ = ("authorization", "content_type", "length", "repeated")

    def __init__(
        self,
        authorization: str | None,
        content_type: str,
        length: int | None,
        *,
        repeated: bytes | None,
    ) -> None:
        self.authorization, self.content_type, self.length = authorization, content_type, length
        self.repeated = repeated

    @classmethod
    def of(cls, scope: Scope) -> _BodyHead | None:
        """None for a request without a body (no ``Content-Length`` but 0, no ``Transfer-Encoding``)
        whose singleton headers each appear once at most: nothing here to check."""
        found: dict[bytes, bytes] = {}
        repeated: bytes | None = None
        for name, value in scope["headers"]:
            if name in _WANTED:
                if name in found and name in _SINGLETONS and repeated is None:
                    repeated = name
                found.setdefault(name, value)
        length = found.get(b"content-length")
        has_body = b"transfer-encoding" in found or (length is not None and length != b"0")
        if not has_body and repeated is None:
            return None
        authorization = found.get(b"authorization")
        return cls(
            authorization.decode("latin-1") if authorization is not None else None,
            found.get(b"content-type", b"").decode("latin-1"),
            int(length) if length is not None and length.isdigit() else None,
            repeated=repeated,
        )


#: Headers Raptor reads that HTTP does not define as lists: each may appear once.
_SINGLETONS = frozenset({b"authorization", b"content-type", b"content-length", b"x-raxx-actor", b"x-request-id"})
_WANTED = _SINGLETONS | {b"transfer-encoding"}
