"""The console's HTTP/1.1 client for Raptor: pooled keep-alive connections, plain or TLS.

Why not aiohttp (or httpx): profiling the console's proxied read (``bench/console_proxy.py``,
``bench/README.md`` "Console") put aiohttp's request path (URL objects, cookie jar, trace
hooks, request and response objects, stream reader) at about half of the console's CPU
per read, and the maintained clients measured against this one over TLS cost more CPU per
request (``bench/client_cost.py``). A call to Raptor needs much less: one request on a
reused connection, the body framed by ``Content-Length``, chunked encoding or the
connection's close (parsed by httptools, the parser uvicorn already uses), a connect
timeout and a total one.

``https://`` origins go through asyncio's SSL transport (uvloop's in the servers): SNI and
host-name checking against the URL's host, certificates verified against the system trust
store (OpenSSL's default paths, so ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` apply), ALPN
``http/1.1``. A handshake that fails is :class:`TlsFailed`; there is never a retry in plain
HTTP.

One connection, its response parser and the failures a request can meet are
:mod:`raxx.console.raptor.connection`.

Who answers can change under a pooled client (a proxy re-pointed, a DNS name moved), so the
client counts the events that put it in doubt: its :attr:`KeepAliveClient.generation` goes up
when a connection is refused, reset or closed by the peer, or when a new connection reaches
an address this client has not seen for this origin (a name that balances over a few
addresses, as a platform router's does, costs a doubt per address once). A request given
``proven=N`` is written only while the generation is still ``N`` (:class:`InDoubt` otherwise,
nothing sent): the console proves a backend's identity at a generation and sends credentials
only on it (``client.py``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from raxx.console.raptor.connection import (
    ConnectFailed,
    Connection,
    ConnectRefused,
    ConnectTimeout,
    InDoubt,
    Peer,
    ResponseBroken,
    ResponseClosed,
    TlsFailed,
    WireResponse,
)

#: RFC 9110 9.2.2: a request of these methods may be repeated when its connection died unanswered.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})
#: Peer addresses remembered per origin (past this, the set starts again: a doubt per address).
MAX_PEERS = 32
#: How often answers that are due are checked against their deadline (so: how late a timeout may be).
SWEEP_S = 0.05


@dataclass(frozen=True)
class Origin:
    """Where requests go: scheme, host, port, the ``Host`` header and a path prefix."""

    scheme: str
    host: str
    port: int
    authority: str
    base_path: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an ``http://`` or ``https://`` URL; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http(s) URL with a host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(f"{url!r}: credentials, a query or a fragment have no place in a backend URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.netloc, parts.path.rstrip("/"))


def tls_context() -> ssl.SSLContext:
    """Certificate and host-name verification against the system trust store (and
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set), HTTP/1.1 by ALPN."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    return context


class KeepAliveClient:
    """Requests to one origin over at most ``limit`` pooled keep-alive connections.

    ``on_connect``, when set, is called with the peer address of every new connection
    (before its first request is written). :attr:`generation` counts the events that put
    the backend's identity in doubt (see the module's docstring).

    The total timeout of a request is enforced without a timer per request (``asyncio.timeout``
    costs about as much as the rest of the client's Python): waiting for a slot or a new
    connection, rare, is bounded by ``asyncio.timeout_at``; an answer that is due is
    checked by one sweep every :data:`SWEEP_S` while any is, so it may time out that late.
    """

    def __init__(
        self,
        origin: Origin,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        limit: int = 64,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.origin = origin
        self.on_connect: Callable[[Peer | None], None] | None = None
        #: Goes up at each refused, reset or peer-closed connection and each new peer address.
        self.generation = 0
        self._peers: set[Peer | None] = set()
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._tls = (tls or tls_context()) if origin.tls else None
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[Connection] = []
        self._due: dict[Connection, float] = {}  # connections awaiting an answer, with its deadline
        self._sweep: asyncio.TimerHandle | None = None
        self._host_line = b"Host: " + origin.authority.encode("ascii") + b"\r\n"
        self._base_path = origin.base_path.encode("ascii")

    def doubt(self) -> None:
        """Count an event that puts the backend's identity in doubt (the caller saw one)."""
        self.generation += 1

    async def get(self, target: str, headers: bytes, *, proven: int | None = None) -> WireResponse:
        """``GET origin.base_path + target``; see :meth:`request`."""
        return await self.request(b"GET", target, headers, proven=proven)

    async def request(
        self, method: bytes, target: str, headers: bytes, body: bytes | None = None, *, proven: int | None = None
    ) -> WireResponse:
        """``method origin.base_path + target``; ``headers`` are complete ``Name: value\\r\\n``
        lines, ``body`` is sent with its ``Content-Length``.

        With ``proven``, the request is written only if :attr:`generation` is still that
        (checked once the connection is open, before writing; :class:`InDoubt` otherwise), and
        a reused connection that closed unanswered is not retried here (a repeatable
        :class:`ResponseClosed`: the caller proves identity again first).

        Raises ConnectFailed or ConnectTimeout (nothing sent), ResponseBroken or TimeoutError (sent).
        """
        parts = [method, b" ", self._base_path, target.encode("ascii"), b" HTTP/1.1\r\n", self._host_line, headers]
        if body is not None:
            parts.append(b"Content-Length: %d\r\n\r\n" % len(body))
            parts.append(body)
        else:
            parts.append(b"\r\n")
        request = b"".join(parts)
        deadline = asyncio.get_running_loop().time() + self._timeout_s
        if self._slots.locked():  # all connections busy: wait for one, within the time allowed
            try:
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            except TimeoutError:
                raise ConnectTimeout(f"no connection within {self._timeout_s:g} s") from None
        else:
            await self._slots.acquire()  # returns at once
        try:
            connection, reused = await self._acquire(deadline)
            if proven is not None and proven != self.generation:
                self._idle.append(connection)
                raise InDoubt(f"{self.origin.authority}: its connections changed since its identity was proven")
            return await self._exchange(connection, reused and method in IDEMPOTENT, request, deadline, proven)
        finally:
            self._slots.release()

    async def _exchange(
        self, connection: Connection, may_repeat: bool, request: bytes, deadline: float, proven: int | None = None
    ) -> WireResponse:
        self._due[connection] = deadline
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self._time_out_late_answers)
        try:
            response = await connection.exchange(request)
        except ResponseBroken:
            connection.close()
            if not may_repeat or connection.received_any:
                raise
            if proven is not None:  # the peer closed it: identity is in doubt, the caller proves it first
                self.doubt()
                closed = ResponseClosed("the connection closed before an answer, as it was reused")
                closed.repeatable = True
                raise closed from None
            # The server closed an idle connection as we reused it (keep-alive timeout). An
            # idempotent request is repeated once, on a new connection (as aiohttp does).
            try:
                fresh = await self._connect(deadline)
            except (ConnectFailed, ConnectTimeout) as exc:
                raise ResponseClosed(f"the connection closed, and reconnecting failed: {exc}") from None
            return await self._exchange(fresh, False, request, deadline)
        except BaseException:  # a timeout or cancellation mid-answer: the connection's state is unknown
            connection.close()
            raise
        finally:
            self._due.pop(connection, None)
        if connection.keep_alive and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _time_out_late_answers(self) -> None:
        self._sweep = None
        now = asyncio.get_running_loop().time()
        for connection, deadline in list(self._due.items()):
            if now >= deadline:
                del self._due[connection]
                connection.time_out(self._timeout_s)
        if self._due:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_S, self._time_out_late_answers)

    async def _acquire(self, deadline: float) -> tuple[Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, True
        return await self._connect(deadline), False

    async def _connect(self, deadline: float) -> Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        factory = partial(Connection, self.doubt)
        try:
            async with asyncio.timeout_at(min(deadline, loop.time() + self._connect_timeout_s)):
                if self._tls is None:
                    _, connection = await loop.create_connection(factory, origin.host, origin.port)
                else:
                    _, connection = await loop.create_connection(
                        factory, origin.host, origin.port, ssl=self._tls, server_hostname=origin.host
                    )
        except TimeoutError:
            raise ConnectTimeout(f"no connection within {self._connect_timeout_s:g} s") from None
        except ssl.SSLCertVerificationError as exc:
            raise TlsFailed(f"TLS: the certificate of {origin.authority} was refused: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise TlsFailed(f"TLS: the handshake with {origin.authority} failed: {exc.reason or exc}") from None
        except ConnectionRefusedError:
            self.doubt()
            raise ConnectRefused(f"{origin.authority} refused the connection") from None
        except OSError as exc:
            self.doubt()
            if self._tls is not None and isinstance(exc, ConnectionResetError | BrokenPipeError):
                raise TlsFailed(f"TLS: {origin.authority} closed the connection during the handshake") from None
            raise ConnectFailed(f"{origin.authority}: {exc.strerror or exc}") from None
        if connection.peer not in self._peers:
            if self._peers:  # the name now (also) leads elsewhere
                self.doubt()
            if len(self._peers) >= MAX_PEERS:
                self._peers.clear()
            self._peers.add(connection.peer)
        if self.on_connect is not None:
            self.on_connect(connection.peer)
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
