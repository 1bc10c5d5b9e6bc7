"""``raxx.common.supervisor``: on SIGTERM a multi-worker server refuses new connections at
once, while its workers drain the requests they have: none is accepted and then reset."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from starlette.types import Receive, Scope, Send

from raxx.common.pgembed import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 4.0
SERVE = (
    "from raxx.common.asgi import server_options; from raxx.common.supervisor import run_workers; "
    "run_workers('tests.common.test_supervisor:app_factory', workers=2, "
    "**server_options(host='127.0.0.1', port={port}, graceful_s=25))"
)


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/slow`` answers after ``SLOW_S``: a request in flight through the drain."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(SLOW_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def app_factory() -> object:
    return _app


def _started(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if conn.recv(64).startswith(b"HTTP/1.1 200"):
                    return
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
        [sys.executable, "-c", SERVE.format(port=port)], cwd=REPO_ROOT, env=env, start_new_session=True
    )
    try:
        _started(port, process)
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
