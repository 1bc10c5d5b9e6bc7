"""One keep-alive HTTP/1.1 connection to Raptor, its answer parsed by httptools as it
arrives, and the failures a request can meet (the pool is :mod:`raxx.console.raptor.transport`).

Failures are told apart by whether the request left, and then by what happened, so that
the caller can decide what to believe about the backend (:class:`ConnectRefused`,
:class:`TlsFailed`, :class:`ResponseReset`, :class:`ResponseClosed`):

* :class:`ConnectFailed` (and its kinds) and :class:`ConnectTimeout`: nothing was sent;
* :class:`ResponseBroken` (and its kinds) and a plain ``TimeoutError``: it was, and the
  answer was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

import httptools

#: Where a connection goes: the peer's address and port as the socket reports them.
Peer = tuple[str, int]


class ConnectFailed(ConnectionError):
    """The connection could not be opened: nothing was sent."""


class ConnectRefused(ConnectFailed):
    """The peer refused the connection (nothing listens there)."""


class TlsFailed(ConnectFailed):
    """The TLS handshake failed: a certificate not trusted or not for this host, or no TLS there.

    Nothing was sent, and nothing is sent in plain HTTP instead.
    """


class InDoubt(ConnectFailed):
    """Something happened to the backend's connections since its identity was proven
    (``proven`` is no longer the client's generation): nothing was sent."""


class ConnectTimeout(TimeoutError):
    """No connection (or no free slot) within the time allowed: nothing was sent."""


class ResponseBroken(ConnectionError):
    """The request was sent but no complete, well-formed answer came back."""


class ResponseReset(ResponseBroken):
    """The peer reset the connection before a complete answer."""


class ResponseClosed(ResponseBroken):
    """The peer closed the connection before a complete answer."""

    #: An idempotent request on a reused connection that got no byte back (the server closed
    #: it idle as we reused it): safe to send again, after the caller proved identity again.
    repeatable = False


class WireResponse(NamedTuple):
    status: int
    body: bytes
    content_type: str


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time, its response parsed as it arrives."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._on_lost = on_lost  # told when the peer ends the connection (the client's generation)
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.closed = False
        self.received_any = False
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None  # set while an answer is due
        self._reusable = httptools.HttpResponseParser(self)  # one per connection: it parses answer after answer
        self._chunks: list[bytes] = []
        self._content_type = ""
        self._framed = False  # Content-Length or chunked: the end of the body is known without a close
        self._headers_done = False
        self.keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else None

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: this connection cannot be trusted any more
            self._abort()
            self._on_lost()
            return
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResponseBroken(f"malformed answer: {exc}"))
            self._abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:  # the peer (or the network) ended it, not us
            self._on_lost()
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:  # the body ran until the server closed
            self._complete()
        elif isinstance(exc, ConnectionResetError):
            self._fail(ResponseReset("the connection was reset before a complete answer"))
        elif exc is None:
            self._fail(ResponseClosed("the connection closed before a complete answer"))
        else:
            self._fail(ResponseBroken(f"the connection broke before a complete answer: {exc}"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)  # most headers are none of these three: tell them by length first
        if size == 12 and name.lower() == b"content-type":
            self._content_type = value.decode("latin-1")
        elif (size == 14 or size == 17) and name.lower() in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser is not None and self._parser.should_keep_alive()
        self._complete()

    # one exchange
    async def exchange(self, request: bytes) -> WireResponse:
        self._chunks, self._content_type, self._framed, self._headers_done = [], "", False, False
        self.received_any, self.keep_alive = False, False
        if self.transport is None or self.closed or self.transport.is_closing():
            raise ResponseClosed("the connection is closed")
        self._parser = self._reusable
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def _complete(self) -> None:
        parser, self._parser = self._parser, None
        if self._waiter is not None and not self._waiter.done() and parser is not None:
            status = parser.get_status_code()
            self._waiter.set_result(WireResponse(status, b"".join(self._chunks), self._content_type))

    def _fail(self, exc: Exception) -> None:
        self._parser = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def time_out(self, timeout_s: float) -> None:
        """No complete answer in time: the caller hears TimeoutError, the connection is dropped."""
        self._fail(TimeoutError(f"no answer within {timeout_s:g} s"))
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
