"""``raxx.common.supervisor``: on SIGTERM a multi-worker server refuses new connections at
once, while its workers drain the requests they have, those still in the kernel's accept
queue included: none is accepted and then reset."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uvicorn
import uvloop
from starlette.types import Receive, Scope, Send

from raxx.common.http_protocol import OneWriteHttpToolsProtocol
from raxx.common.pgembed import free_port
from raxx.common.supervisor import QueueDrainingServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 4.0
SERVE = (
    "from raxx.common.asgi import server_options; from raxx.common.supervisor import run_workers; "
    "run_workers('tests.common.test_supervisor:app_factory', workers=2, "
    "**server_options(host='127.0.0.1', port={port}, graceful_s=25{extra}))"
)


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/slow`` answers after ``SLOW_S``: a request in flight through the drain."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW_S)
    body = b"ok"
    if scope["path"] == "/server":  # which uvicorn Server class serves this process
        body = next(type(o).__name__ for o in gc.get_objects() if isinstance(o, uvicorn.Server)).encode()
    if scope["path"] == "/client":  # what the app believes about who asked, and how
        body = f"{scope['scheme']} {scope['client'][0] if scope['client'] else None}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def app_factory() -> object:
    return _app


def _started(port: int, process: subprocess.Popen[bytes]) -> bytes:
    """Once the server answers: the class of the uvicorn Server that answered."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET /server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = conn.recv(4096)
                if answer.startswith(b"HTTP/1.1 200"):
                    return answer.rpartition(b"\r\n\r\n")[2]
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer in 60 s (exit {process.poll()})")


def _connect_until_refused(port: int, seconds: float) -> list[str]:
    """What new connections meet after SIGTERM, until one is refused (or ``seconds``)."""
    outcomes: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=1)
        except ConnectionRefusedError:
            return [*outcomes, "refused"]
        conn.close()
        outcomes.append("accepted")  # held by a socket nobody accepts on: reset at exit
        time.sleep(0.05)
    return outcomes


def test_sigterm_refuses_new_connections_while_the_workers_drain() -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(port=port, extra="")], cwd=REPO_ROOT, env=env, start_new_session=True
    )
    try:
        served_by = _started(port, process)
        with socket.create_connection(("127.0.0.1", port), timeout=SLOW_S + 10) as slow:
            slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.5)  # in the app
            os.killpg(process.pid, signal.SIGTERM)  # as Heroku stops a dyno: every process
            started = time.monotonic()
            outcomes = _connect_until_refused(port, SLOW_S - 1)
            refused_after = time.monotonic() - started
            answer = slow.recv(4096)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert outcomes[-1:] == ["refused"], f"still accepting {SLOW_S - 1:.0f} s into the drain: {outcomes}"
    assert refused_after < SLOW_S - 1
    assert answer.startswith(b"HTTP/1.1 200"), answer  # the request in flight was drained
    assert served_by == b"QueueDrainingServer"  # the workers drain their accept queue too


QUEUED = 8


def _queue_requests(port: int) -> list[socket.socket]:
    """Connections the kernel completes and that carry a whole request, none accepted yet
    (the caller does not yield to the event loop until it has stopped the server)."""
    clients = []
    for n in range(QUEUED):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(f"POST /order-{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        clients.append(conn)
    return clients


def _outcome(conn: socket.socket) -> str:
    with conn:
        try:
            answer = conn.recv(4096)
        except ConnectionResetError:
            return "reset"
    return answer.split(b"\r\n", 1)[0].decode() if answer else "closed unanswered"


async def _stop_with_requests_queued(server_class: type[uvicorn.Server]) -> list[str]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    port = listener.getsockname()[1]
    config = uvicorn.Config(_app, lifespan="off", http=OneWriteHttpToolsProtocol, log_config=None)
    config.load()
    server = server_class(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    clients = _queue_requests(port)  # no await: the loop has not accepted any of them
    await server.shutdown(sockets=[listener])  # as on SIGTERM
    return [_outcome(conn) for conn in clients]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: production's (server_options)
@pytest.mark.parametrize(
    ("server_class", "expected"),
    [
        (QueueDrainingServer, ["HTTP/1.1 200 OK"] * QUEUED),
        # uvicorn's own Server, the reason for the subclass: it closes its listener with
        # requests in the accept queue, and the kernel resets them (behind Heroku: H13).
        (uvicorn.Server, ["reset"] * QUEUED),
    ],
)
def test_a_stop_answers_the_requests_waiting_in_the_accept_queue(
    server_class: type[uvicorn.Server], expected: list[str], loop: str
) -> None:
    run = uvloop.run if loop == "uvloop" else asyncio.run
    assert run(_stop_with_requests_queued(server_class)) == expected


def _ask(port: int, headers: str, path: str = "/client") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: console.example\r\n{headers}Connection: close\r\n\r\n".encode())
        return conn.recv(4096)


def test_behind_the_router_the_client_is_the_address_the_router_appended() -> None:
    """Heroku's router appends the address it was connected from to any X-Forwarded-For the
    client sent: only that last entry is known. The one before it is whatever the client
    wrote, and must not become the audit trail's ``client_ip`` (nor dodge the per-address
    sign-in throttle). A request the router took over plain http is sent to https, unserved."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = SERVE.format(port=port, extra=", proxy_headers=True")
    process = subprocess.Popen([sys.executable, "-c", command], cwd=REPO_ROOT, env=env, start_new_session=True)
    try:
        _started(port, process)
        routed = "X-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n"
        spoofed = _ask(port, routed + "X-Forwarded-For: 10.1.2.3, 198.51.100.7\r\n")
        direct = _ask(port, routed + "X-Forwarded-For: 198.51.100.7\r\n")
        plain = _ask(port, "X-Forwarded-Proto: http\r\nX-Forwarded-For: 198.51.100.8\r\n", "/login?next=/prod/")
        odd = _ask(port, "X-Forwarded-Proto: gopher\r\n")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    assert spoofed.endswith(b"\r\n\r\nhttps 198.51.100.7")
    assert direct.endswith(b"\r\n\r\nhttps 198.51.100.7")
    assert plain.startswith(b"HTTP/1.1 308 ")
    assert b"\r\nlocation: https://console.example/login?next=/prod/\r\n" in plain
    assert odd.endswith(b"\r\n\r\nhttp 127.0.0.1")  # nothing the router would send: the connection's own
