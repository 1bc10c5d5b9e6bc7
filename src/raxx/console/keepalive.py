"""A lean HTTP/1.1 client for the JSON API's reads: ``GET`` over pooled keep-alive connections.

Why not aiohttp here: profiling the console's proxied read (``bench/console_proxy.py``,
``bench/README.md`` "Console") put aiohttp's request path (URL objects, cookie jar, trace
hooks, request and response objects, stream reader) at about half of the console's CPU
per read. A read needs much less: one ``GET`` on a reused connection, the body framed by
``Content-Length``, chunked encoding or the connection's close (parsed by httptools, the
parser uvicorn already uses), a connect timeout and a total one. Everything else (writes,
identity checks, readiness) stays on aiohttp.

Failures are told apart by whether the request left: :class:`ConnectFailed` and
:class:`ConnectTimeout` mean nothing was sent; :class:`ResponseBroken` and a plain
``TimeoutError`` mean it was, and the answer was lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools


class ConnectFailed(ConnectionError):
    """The connection could not be opened: nothing was sent."""


class ConnectTimeout(TimeoutError):
    """No connection (or no free slot) within the time allowed: nothing was sent."""


class ResponseBroken(ConnectionError):
    """The request was sent but no complete, well-formed answer came back."""


@dataclass(frozen=True)
class WireResponse:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Origin:
    """Where requests go: host, port, the ``Host`` header and a path prefix (``http`` only)."""

    host: str
    port: int
    authority: str
    base_path: str

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of a plain ``http://`` URL; None for anything this client does not speak."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.username or parts.query or parts.fragment:
            return None
        return cls(parts.hostname, parts.port or 80, parts.netloc, parts.path.rstrip("/"))


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time, its response parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received_any = False
        self._waiter: asyncio.Future[WireResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._chunks: list[bytes] = []
        self._content_type = ""
        self._framed = False  # Content-Length or chunked: the end of the body is known without a close
        self._headers_done = False
        self.keep_alive = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: this connection cannot be trusted any more
            self._abort()
            return
        self.received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ResponseBroken(f"malformed answer: {exc}"))
            self._abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not self._framed:  # the body ran until the server closed
            self._complete()
        else:
            self._fail(ResponseBroken("the connection closed before a complete answer"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-type":
            self._content_type = value.decode("latin-1")
        elif lowered in (b"content-length", b"transfer-encoding"):
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
            raise ResponseBroken("the connection is closed")
        self._parser = httptools.HttpResponseParser(self)
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

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class KeepAliveClient:
    """``GET`` requests to one origin over at most ``limit`` pooled keep-alive connections."""

    def __init__(self, origin: Origin, *, timeout_s: float, connect_timeout_s: float, limit: int = 64) -> None:
        self.origin = origin
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._host_line = b"Host: " + origin.authority.encode("ascii") + b"\r\n"

    async def get(self, target: str, headers: bytes) -> WireResponse:
        """``GET origin.base_path + target``; ``headers`` are complete ``Name: value\\r\\n`` lines.

        Raises ConnectFailed or ConnectTimeout (nothing sent), ResponseBroken or TimeoutError (sent).
        """
        request = b"".join(
            (
                b"GET ",
                (self.origin.base_path + target).encode("ascii"),
                b" HTTP/1.1\r\n",
                self._host_line,
                headers,
                b"\r\n",
            )
        )
        sent = False
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._slots:
                    connection, reused = await self._acquire()
                    sent = True
                    return await self._exchange(connection, reused, request)
        except ConnectTimeout:
            raise
        except TimeoutError:
            if not sent:
                raise ConnectTimeout(f"no connection within {self._timeout_s:g} s") from None
            raise

    async def _exchange(self, connection: _Connection, reused: bool, request: bytes) -> WireResponse:
        try:
            response = await connection.exchange(request)
        except ResponseBroken:
            connection.close()
            if not reused or connection.received_any:
                raise
            # The server closed an idle connection as we reused it (keep-alive timeout). A GET
            # changes nothing, so it is repeated once, on a new connection.
            try:
                connection = await self._connect()
            except (ConnectFailed, ConnectTimeout) as exc:
                raise ResponseBroken(f"the connection closed, and reconnecting failed: {exc}") from None
            response = await self._exchange(connection, False, request)
            return response
        except BaseException:  # a timeout or cancellation mid-answer: the connection's state is unknown
            connection.close()
            raise
        if connection.keep_alive and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def _acquire(self) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, True
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, connection = await loop.create_connection(_Connection, self.origin.host, self.origin.port)
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self._connect_timeout_s:g} s") from None
        except OSError as exc:
            raise ConnectFailed(str(exc)) from None
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
