"""The JSON API's lean read client (``raxx.console.keepalive``) against a scripted HTTP server.

Each test scripts what the server writes back to each request it reads, byte for byte:
framing by Content-Length, chunked and close; connection reuse and close; timeouts;
malformed answers. No database, no Raptor.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from raxx.console.keepalive import (
    ConnectFailed,
    ConnectTimeout,
    KeepAliveClient,
    Origin,
    ResponseBroken,
)

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
    origin = Origin.of(f"http://127.0.0.1:{server.port}/base")
    assert origin is not None
    return KeepAliveClient(origin, timeout_s=1.0, connect_timeout_s=0.5)


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
    client.close()


async def test_a_connection_closed_mid_answer_is_broken(scripted: Callable[[Reply], ScriptedServer]) -> None:
    server = scripted(lambda n, head: (ok(b'{"a":1}')[:-3], True))
    client = await running(server)
    with pytest.raises(ResponseBroken):
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
    client.close()


async def test_refused_connection_sends_nothing() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    origin = Origin.of(f"http://127.0.0.1:{port}")
    assert origin is not None
    client = KeepAliveClient(origin, timeout_s=1.0, connect_timeout_s=0.5)
    with pytest.raises(ConnectFailed):
        await client.get("/a", HEADERS)


async def test_connect_timeout_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_connects(*args: object, **kwargs: object) -> None:
        await asyncio.sleep(10)

    monkeypatch.setattr(asyncio.get_running_loop(), "create_connection", never_connects)
    origin = Origin.of("http://127.0.0.1:9")
    assert origin is not None
    client = KeepAliveClient(origin, timeout_s=1.0, connect_timeout_s=0.1)
    with pytest.raises(ConnectTimeout):
        await client.get("/a", HEADERS)


def test_only_plain_http_origins() -> None:
    assert Origin.of("https://raptor:8443") is None
    assert Origin.of("http://user:pw@raptor") is None
    plain = Origin.of("http://raptor/prefix/")
    assert plain is not None
    assert (plain.host, plain.port, plain.authority, plain.base_path) == ("raptor", 80, "raptor", "/prefix")
