"""uvicorn's httptools protocol, writing each response with one system call instead of two.

Why: uvicorn writes a response's status line and headers when the app sends
``http.response.start`` and the body when it sends ``http.response.body``: two ``send``
system calls, two TCP segments and two wake-ups of the client per response. Measured with
py-spy under wrk on Raptor's order path, those writes were a quarter of the server's CPU
samples; holding the writes of one event-loop turn and handing them to the socket together
raised orders per second by ~4 % at 8 connections and ~9 % at 32 (``bench/README.md``).

What is held is written at the end of the current turn of the event loop
(``loop.call_soon``), so a streamed body still leaves chunk by chunk and nothing waits for
more data to arrive. Closing the connection writes what is held first; aborting it drops it,
as an abort drops the transport's own buffer. Flow control is untouched: the real transport
still tells the protocol when its buffer is full.

It also drains the way a dyno behind Heroku's router must (``shutdown``): uvicorn closes
every connection without a request in progress when it stops, which is right for a
connection idle after a response, but the router opens one connection per request, so a
connection that has not yet delivered its first request (or is mid-headers) carries a
request in flight: closing it cuts that request (the router's H13). Such a connection is
answered, with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class TurnCoalescingTransport:
    """A transport wrapper whose writes within one event-loop turn reach the socket as one."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Hand what is held to the socket (a no-op when nothing is, or it is closing)."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(chunk) for chunk in self._held)

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, set_protocol, ...) is the
        # real transport's.
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` on a ``TurnCoalescingTransport``; pass as uvicorn's ``http``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._answered = 0  # responses completed on this connection
        self._request_begun = False  # bytes of a request whose headers are not all here yet
        self._draining = False
        coalescing = TurnCoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        self._request_begun = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._request_begun = False
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # the request is answered, then the connection closed

    def on_response_complete(self) -> None:
        self._answered += 1
        super().on_response_complete()

    def shutdown(self) -> None:
        """Graceful stop: a request in progress or on its way is answered (``Connection:
        close``); only a connection idle after a response is closed at once, as uvicorn does.
        A new connection whose request never comes is closed after the keep-alive timeout."""
        in_progress = self.cycle is not None and not self.cycle.response_complete
        if in_progress or (self._answered and not self._request_begun):
            super().shutdown()
            return
        self._draining = True
        if not self._request_begun:
            self.loop.call_later(self.timeout_keep_alive, self._close_if_no_request)

    def _close_if_no_request(self) -> None:
        cycle: RequestResponseCycle | None = self.cycle  # uvicorn types it as never None
        if cycle is None and not self._request_begun:
            self.transport.close()
