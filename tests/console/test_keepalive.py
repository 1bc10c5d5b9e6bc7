"""The console's Raptor client (``raxx.console.raptor.transport``) against a scripted HTTP server.

Each test scripts what the server writes back to each request it reads, byte for byte:
framing by Content-Length, chunked and close; connection reuse and close; timeouts;
malformed answers; the same over TLS with certificates from a test authority (trustme).
No database, no Raptor.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
import uvloop

from raxx.console.raptor.connection import (
    ConnectRefused,
    ConnectTimeout,
    InDoubt,
    Peer,
    ResponseBroken,
    ResponseClosed,
    ResponseReset,
    TlsFailed,
)
from raxx.console.raptor.transport import KeepAliveClient, Origin

#: What the server does with the n-th request it reads on a connection: bytes to write,
#: then whether to close the connection; None writes nothing (and keeps it open).
Reply = Callable[[int, bytes], tuple[bytes | None, bool]]


@dataclass
class ScriptedServer:
    reply: Reply
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line[15:]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length: ")), 0
                )
                head += await reader.readexactly(length)
                self.requests.append(head)
                data, close = self.reply(served, head)
                served += 1
                if data is not None:
                    writer.write(data)
                    await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Reply], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(reply: Reply) -> ScriptedServer:
        servers.append(ScriptedServer(reply))
        return servers[-1]

    yield start
    for s in servers:
        if s.server is not None:
            s.server.close()


async def running(server: ScriptedServer) -> KeepAliveClient:
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = server.server.sockets[0].getsockname()[1]
    return KeepAliveClient(Origin.of(f"http://127.0.0.1:{server.port}/base"), timeout_s=1.0, connect_timeout_s=0.5)


def ok(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    return head + b"".join(extra) + b"\r\n" + body


HEADERS = b"X-Request-ID: r1\r\nX-Raxx-Actor: alice (api)\r\n"


async def test_content_length_answers_reuse_one_connection(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (ok(b'{"n":%d}' % n), False))
    client = await running(server)
    first = await client.get("/v1/orders?limit=2", HEADERS)
    second = await client.get("/v1/orders", HEADERS)
    assert (first.status, first.body, first.content_type) == (200, b'{"n":0}', "application/json")
    assert second.body == b'{"n":1}'
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /base/v1/orders?limit=2 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nX-Request-ID: r1\r\nX-Raxx-Actor: alice (api)\r\n" in server.requests[0]
    client.close()


async def test_chunked_answer(scripted: Callable[[Reply], ScriptedServer]) -> None:
    chunked = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b'5\r\n{"err\r\n10\r\nor":"not_found"}\r\n0\r\n\r\n'
    server = scripted(lambda n, head: (chunked, False))
    client = await running(server)
    answer = await client.get("/v1/orders/x", HEADERS)
    again = await client.get("/v1/orders/x", HEADERS)
    assert (answer.status, answer.body) == (404, b'{"error":"not_found"}')
    assert again.body == answer.body
    assert server.connections == 1
    client.close()


async def test_an_answer_framed_by_close_and_connection_close_are_not_reused(
    scripted: Callable[[Reply], ScriptedServer],
) -> None:
    unframed = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n[1,2,3]"
    answers = itertools.cycle([unframed, ok(b"[]", b"connection: close\r\n")])
    # The server would keep the connection open after the explicit close; the client must not reuse it.
    server = scripted(lambda n, head: (answer := next(answers), answer is unframed))
    client = await running(server)
    assert (await client.get("/a", HEADERS)).body == b"[1,2,3]"
    assert (await client.get("/b", HEADERS)).body == b"[]"
    assert (await client.get("/c", HEADERS)).body == b"[1,2,3]"
    assert server.connections == 3
    client.close()


async def test_an_idle_connection_the_server_closed_is_replaced(scripted: Callable[[Reply], ScriptedServer]) -> None:
    # The server answers keep-alive, then closes (its keep-alive timeout).
    server = scripted(lambda n, head: (ok(b"{}"), True))
    client = await running(server)
    await client.get("/a", HEADERS)
    await asyncio.sleep(0.05)
    assert client._idle[0].closed  # noticed: the next request opens a new connection
    assert (await client.get("/b", HEADERS)).body == b"{}"
    await asyncio.sleep(0.05)
    client._idle[0].closed = False  # not noticed yet, as when the close crosses the request
    assert (await client.get("/c", HEADERS)).body == b"{}"  # repeated once, on a new connection
    assert server.connections == 3
    assert client._due == {}  # no answer is due any more, on either connection
    client.close()


async def test_a_connection_closed_mid_answer_is_broken(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (ok(b'{"a":1}')[:-3], True))
    client = await running(server)
    with pytest.raises(ResponseClosed):
        await client.get("/a", HEADERS)
    assert server.connections == 1  # a fresh connection that broke is not retried
    client.close()


async def test_malformed_answer_is_broken(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (b"NOT HTTP AT ALL\r\n\r\n", False))
    client = await running(server)
    with pytest.raises(ResponseBroken):
        await client.get("/a", HEADERS)
    client.close()


async def test_no_answer_is_a_timeout_after_sending(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (None, False))
    client = await running(server)
    with pytest.raises(TimeoutError) as caught:
        await client.get("/a", HEADERS)
    assert not isinstance(caught.value, ConnectTimeout)  # it was sent: the answer was lost
    assert client._idle == []  # a connection with an answer still due is never reused
    assert client._due == {}
    client.close()


async def test_waiting_for_a_free_connection_is_bounded_and_sends_nothing(
    scripted: Callable[[Reply], ScriptedServer],
) -> None:
    server = scripted(lambda n, head: (ok(b"{}"), False))
    client = await running(server)
    for _ in range(64):  # every connection busy (the limit)
        await client._slots.acquire()
    with pytest.raises(ConnectTimeout):
        await client.get("/queued", HEADERS)
    client._slots.release()
    assert (await client.get("/after", HEADERS)).body == b"{}"  # a freed slot serves the next request
    assert [r.split(b" ")[1] for r in server.requests] == [b"/base/after"]
    client.close()


async def test_refused_connection_sends_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = KeepAliveClient(Origin.of(f"http://127.0.0.1:{port}"), timeout_s=1.0, connect_timeout_s=0.5)
    with pytest.raises(ConnectRefused):
        await client.get("/a", HEADERS)


async def test_connect_timeout_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_connects(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(10)

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", never_connects)
    client = KeepAliveClient(Origin.of("http://127.0.0.1:9"), timeout_s=1.0, connect_timeout_s=0.1)
    with pytest.raises(ConnectTimeout):
        await client.get("/a", HEADERS)


async def test_a_body_is_sent_with_its_length(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (ok(b"{}"), False))
    client = await running(server)
    answer = await client.request(b"POST", "/v1/orders", HEADERS + b"Content-Type: application/json\r\n", b'{"a":1}')
    empty = await client.request(b"POST", "/v1/trading/resume", HEADERS, b"")
    assert answer.status == empty.status == 200
    assert server.requests[0].startswith(b"POST /base/v1/orders HTTP/1.1\r\n")
    assert server.requests[0].endswith(b'Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}')
    assert server.requests[1].endswith(b"\r\nContent-Length: 0\r\n\r\n")
    client.close()


async def test_a_post_whose_reused_connection_died_is_not_repeated(
    scripted: Callable[[Reply], ScriptedServer],
) -> None:
    """A GET on a connection that closed under it is repeated once; a POST is not (it may have
    been read): the caller hears that the answer was lost."""
    server = scripted(lambda n, head: (ok(b"{}"), True))
    client = await running(server)
    await client.get("/a", HEADERS)
    await asyncio.sleep(0.05)
    client._idle[0].closed = False  # the close crosses the request
    with pytest.raises(ResponseClosed):
        await client.request(b"POST", "/v1/orders", HEADERS, b"{}")
    assert server.connections == 1
    client.close()


async def test_a_reset_is_told_from_a_close(scripted: Callable[[Reply], ScriptedServer]) -> None:
    resets: list[asyncio.StreamWriter] = []

    def reply(n: int, head: bytes) -> tuple[bytes | None, bool]:
        return None, False  # say nothing; the test resets the connection

    server = scripted(reply)
    original = server.handle

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        resets.append(writer)
        await original(reader, writer)

    server.handle = handle  # type: ignore[method-assign]
    client = await running(server)
    pending = asyncio.create_task(client.get("/a", HEADERS))
    while not server.requests:
        await asyncio.sleep(0.01)
    sock = resets[0].get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close = RST
    resets[0].transport.abort()
    with pytest.raises(ResponseReset):
        await pending
    client.close()


async def test_each_new_connection_reports_its_peer(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (ok(b"{}"), n == 1))  # the second answer closes the connection
    client = await running(server)
    peers: list[Peer | None] = []
    client.on_connect = peers.append
    for _ in range(3):
        await client.get("/a", HEADERS)
    assert peers == [("127.0.0.1", server.port), ("127.0.0.1", server.port)]
    client.close()


async def test_a_connection_the_peer_closed_or_refused_ends_the_proven_generation(
    scripted: Callable[[Reply], ScriptedServer],
) -> None:
    """What may mean another backend now answers (the peer closed a connection, refused one)
    moves the generation on; a request proven on an older one is not written at all."""
    server = scripted(lambda n, head: (ok(b"{}"), n == 2))  # the third answer closes the connection
    client = await running(server)
    await client.get("/v1/identity", HEADERS)
    proven = client.generation
    assert (await client.get("/v1/orders", HEADERS, proven=proven)).body == b"{}"
    assert client.generation == proven  # a keep-alive answer and our own close change nothing
    await client.get("/v1/orders", HEADERS, proven=proven)  # the server closes after this one
    await asyncio.sleep(0.05)
    assert client.generation == proven + 1
    sent = len(server.requests)
    with pytest.raises(InDoubt):
        await client.get("/v1/orders", HEADERS, proven=proven)
    assert len(server.requests) == sent  # nothing was written
    assert (await client.get("/v1/orders", HEADERS, proven=client.generation)).status == 200
    assert server.server is not None
    server.server.close()
    client.close()  # before wait_closed: since Python 3.12 it waits for the open connections too
    await server.server.wait_closed()
    before = client.generation
    with pytest.raises(ConnectRefused):
        await client.get("/v1/identity", HEADERS)
    assert client.generation == before + 1


async def test_a_new_peer_address_ends_the_proven_generation(scripted: Callable[[Reply], ScriptedServer]) -> None:
    """The same name leading to an address not seen before (DNS, a re-pointed balancer) counts
    too, and is noticed before the first request on the new connection is written."""
    first = scripted(lambda n, head: (ok(b'"first"'), False))
    second = scripted(lambda n, head: (ok(b'"second"'), False))
    client = await running(first)
    await running(second)
    await client.get("/v1/identity", HEADERS)
    proven = client.generation
    client.close()  # our own close: no doubt
    assert client.generation == proven
    client.origin = Origin.of(f"http://127.0.0.1:{second.port}/base")  # the name now resolves elsewhere
    with pytest.raises(InDoubt):
        await client.get("/v1/orders", HEADERS, proven=proven)
    assert second.requests == []  # the new peer got nothing
    assert client.generation == proven + 1
    assert (await client.get("/v1/identity", HEADERS)).body == b'"second"'  # a credential-free call may go
    # A name that balances over addresses already seen (a platform router's) costs no more doubt.
    proven = client.generation
    client.close()
    client.origin = Origin.of(f"http://127.0.0.1:{first.port}/base")
    assert (await client.get("/v1/orders", HEADERS, proven=proven)).body == b'"first"'
    assert client.generation == proven
    client.close()


async def test_a_proven_request_on_a_stale_connection_is_left_to_the_caller(
    scripted: Callable[[Reply], ScriptedServer],
) -> None:
    """An idempotent request whose reused connection closed unanswered is repeated here only
    when no proof is at stake; with one, the caller hears a repeatable close (and proves first)."""
    server = scripted(lambda n, head: (ok(b"{}"), True))
    client = await running(server)
    await client.get("/a", HEADERS)
    await asyncio.sleep(0.05)
    client._idle[0].closed = False  # the close crosses the request
    proven = client.generation
    with pytest.raises(ResponseClosed) as closed:
        await client.get("/b", HEADERS, proven=proven)
    assert closed.value.repeatable
    assert server.connections == 1
    assert client.generation > proven
    client.close()


def test_origins_of_http_and_https_urls() -> None:
    plain = Origin.of("http://raptor/prefix/")
    assert (plain.scheme, plain.host, plain.port, plain.authority, plain.base_path) == (
        "http",
        "raptor",
        80,
        "raptor",
        "/prefix",
    )
    tls = Origin.of("https://raptor-staging.herokuapp.com")
    assert (tls.tls, tls.host, tls.port, tls.authority) == (True, "raptor-staging.herokuapp.com", 443, tls.host)
    assert Origin.of("https://raptor:8443").port == 8443
    for bad in ("ftp://raptor", "http://user:pw@raptor", "https://raptor/?x=1", "https://raptor/#f", "http:///x"):
        with pytest.raises(ValueError, match="URL"):
            Origin.of(bad)


# TLS: a test certificate authority, a server certificate for "localhost", and the client's
# default context (the system trust store) told to trust the authority through SSL_CERT_FILE.


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server_context(authority: trustme.CA, *hosts: str) -> tuple[ssl.SSLContext, list[str | None]]:
    """A server context with a certificate for ``hosts``, and the SNI names it was asked for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(*hosts).configure_cert(context)
    asked: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: asked.append(name)
    return context, asked


async def tls_running(server: ScriptedServer, context: ssl.SSLContext, host: str = "localhost") -> KeepAliveClient:
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    server.port = server.server.sockets[0].getsockname()[1]
    return KeepAliveClient(Origin.of(f"https://{host}:{server.port}"), timeout_s=2.0, connect_timeout_s=1.0)


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system trust store plus the test authority, the way an operator adds one."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


@pytest.mark.usefixtures("trusted")
async def test_tls_verifies_the_certificate_sends_sni_and_keeps_the_connection(
    scripted: Callable[[Reply], ScriptedServer], authority: trustme.CA
) -> None:
    context, asked = tls_server_context(authority, "localhost")
    server = scripted(lambda n, head: (ok(b'{"n":%d}' % n), False))
    client = await tls_running(server, context)
    peers: list[Peer | None] = []
    client.on_connect = peers.append
    first = await client.get("/v1/orders", HEADERS)
    second = await client.request(b"POST", "/v1/orders", HEADERS, b"{}")
    assert (first.body, second.body) == (b'{"n":0}', b'{"n":1}')
    assert server.connections == 1
    assert asked == ["localhost"]
    assert peers == [("127.0.0.1", server.port)]
    assert server.requests[0].startswith(b"GET /v1/orders HTTP/1.1\r\nHost: localhost:")
    client.close()


@pytest.mark.usefixtures("trusted")
@pytest.mark.parametrize(
    ("certified", "refusal"),
    [
        (("raptor-prod.example",), "certificate of localhost:\\d+ was refused: .*(mismatch|match)"),
        (None, "certificate of localhost:\\d+ was refused: .*(self.signed|unable to get local issuer)"),
    ],
    ids=["another-host", "unknown-authority"],
)
async def test_a_certificate_that_does_not_verify_fails_before_anything_is_sent(
    scripted: Callable[[Reply], ScriptedServer],
    authority: trustme.CA,
    certified: tuple[str, ...] | None,
    refusal: str,
) -> None:
    stranger = trustme.CA()  # a certificate authority nobody here trusts
    context, _ = tls_server_context(authority if certified else stranger, *(certified or ("localhost",)))
    server = scripted(lambda n, head: (ok(b"{}"), False))
    client = await tls_running(server, context)
    with pytest.raises(TlsFailed, match=refusal):
        await client.get("/v1/orders", HEADERS)
    assert server.requests == []


async def test_an_https_url_never_falls_back_to_plain_http() -> None:
    """A plain HTTP server at an https URL answers the handshake with a 400, as uvicorn does:
    the handshake fails, and what it received was a TLS handshake, never a request in clear."""
    received: list[bytes] = []

    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(65536))
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = KeepAliveClient(Origin.of(f"https://localhost:{port}"), timeout_s=2.0, connect_timeout_s=1.0)
    with pytest.raises(TlsFailed, match="handshake with localhost"):
        await client.get("/v1/orders", HEADERS)
    server.close()
    assert len(received) == 1
    assert received[0][:1] == b"\x16"  # a TLS handshake record
    assert b"GET" not in received[0]


@pytest.mark.usefixtures("trusted")
def test_tls_on_uvloop_as_the_servers_run_it(authority: trustme.CA) -> None:
    """``raxx console serve`` runs uvloop, whose SSL transport is its own implementation."""

    async def scenario() -> tuple[bytes, type[Exception]]:
        context, _ = tls_server_context(authority, "localhost")
        server = ScriptedServer(lambda n, head: (ok(b"[1]"), False))
        client = await tls_running(server, context)
        body = (await client.get("/v1/orders", HEADERS)).body
        client.close()
        assert server.server is not None
        server.server.close()
        wrong, _ = tls_server_context(authority, "somewhere.else")
        other = ScriptedServer(lambda n, head: (ok(b"[1]"), False))
        refused = await tls_running(other, wrong)
        try:
            await refused.get("/v1/orders", HEADERS)
        except TlsFailed as exc:
            failure: type[Exception] = type(exc)
        assert other.server is not None
        other.server.close()
        return body, failure

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == (b"[1]", TlsFailed)
