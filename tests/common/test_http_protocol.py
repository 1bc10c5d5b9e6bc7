"""``raxx.common.http_protocol``: a response's writes reach the socket together, and
nothing is held back longer than the event loop's current turn."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from raxx.common.http_protocol import OneWriteHttpToolsProtocol, TurnCoalescingTransport
from tests.fixtures.servers import ThreadedServer, serve


class RecordingTransport(asyncio.Transport):
    """What the socket would have been asked to send, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_turn_reach_the_socket_as_one_at_the_end_of_the_turn() -> None:
    real = RecordingTransport()
    transport = TurnCoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert real.writes == []  # held until the turn ends
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]  # a later turn: its own write


async def test_close_writes_what_is_held_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    closed, aborted = RecordingTransport(), RecordingTransport()
    first, second = TurnCoalescingTransport(closed, loop), TurnCoalescingTransport(aborted, loop)
    first.write(b"last words")
    first.close()
    second.write(b"never sent")
    second.abort()
    await asyncio.sleep(0)  # the scheduled flushes find nothing held
    assert (closed.writes, closed.closed) == ([b"last words"], True)
    assert (aborted.writes, aborted.aborted) == ([], True)
    assert first.is_closing()  # everything else is the real transport's


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/plain``: one JSON body; ``/stream``: a chunk, then the next only once the client
    has read the first (``STREAM_READ``), so a response held until its end would hang."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        while not STREAM_READ.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"second", "more_body": False})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


STREAM_READ = threading.Event()


def test_a_real_server_answers_requests_on_one_connection() -> None:
    with serve(_app, http=OneWriteHttpToolsProtocol) as server, httpx.Client(base_url=server.url) as client:
        answers = [client.get("/plain") for _ in range(3)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"ok": True})] * 3
    assert all(a.headers["content-length"] == "11" for a in answers)


def test_a_streamed_body_leaves_chunk_by_chunk() -> None:
    STREAM_READ.clear()
    with (
        serve(_app, http=OneWriteHttpToolsProtocol) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn,
    ):
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b"first;" not in received:  # arrives while the app still waits for us
            chunk = conn.recv(4096)
            assert chunk, "connection closed before the first chunk"
            received += chunk
        assert b"second" not in received
        STREAM_READ.set()
        while not received.endswith(b"0\r\n\r\n"):  # chunked encoding's last chunk
            chunk = conn.recv(4096)
            assert chunk, "connection closed before the end of the body"
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"second" in received


def _read_to_close(conn: socket.socket) -> bytes:
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


def test_a_stopping_server_answers_the_request_on_a_new_connection_and_closes_idle_ones() -> None:
    """The router opens a connection per request: one accepted just before the server stops
    carries a request on its way, and closing it would cut that request (Heroku's H13)."""
    server = ThreadedServer(_app, http=OneWriteHttpToolsProtocol)
    server.start()
    address = ("127.0.0.1", server.port)
    with socket.create_connection(address, timeout=10) as fresh, socket.create_connection(address, timeout=10) as idle:
        idle.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")  # answered, kept alive
        server.server.should_exit = True
        assert idle.recv(4096) == b""  # idle after a response: closed by the shutdown
        fresh.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_to_close(fresh)
    server.thread.join(15)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert b"connection: close" in answer.lower()
    assert not server.thread.is_alive()
