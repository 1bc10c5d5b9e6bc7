"""The router's wait for a booting dyno (Heroku's H20 window), next to nginx.

Heroku's router holds a request while none of an app's web dynos is up (one restarting,
all booting) and sends it on once one is, for up to 75 s (then H20). nginx cannot wait for
an upstream, so each app's upstream has this queue as its ``backup`` server: a request that
finds no dyno up (the router marks a dyno down before stopping it, and a refused
connection counts as down too) comes here, waits for a dyno the harness says is up, and is
passed through to it byte for byte. The router's own 30 s (H12) still bounds the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

H20_TIMEOUT_S = 75.0
H20_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nX-Heroku-Local-Error: H20\r\nContent-Type: text/html\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


class BootQueue:
    """One asyncio server per app in a thread of its own; ``up`` holds the ports of the
    dynos the router may send to (the harness updates it as dynos stop and boot)."""

    def __init__(self, timeout_s: float = H20_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.up: dict[str, frozenset[int]] = {}
        self.ports: dict[str, int] = {}
        self.held = 0  # requests that waited here (a figure for the report)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="heroku-local-queue", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    def add(self, app: str) -> int:
        """Open ``app``'s queue; its port (the upstream's backup server)."""
        if not self._thread.is_alive():
            self._thread.start()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])

        async def serve() -> None:
            server = await asyncio.start_server(lambda r, w: self._handle(app, r, w), sock=sock, backlog=1024)
            self._servers.append(server)

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        self.ports[app] = port
        self.up.setdefault(app, frozenset())
        return port

    def set_up(self, app: str, port: int, up: bool) -> None:
        current = self.up.get(app, frozenset())
        self.up[app] = current | {port} if up else current - {port}

    async def _handle(self, app: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held += 1
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                for port in sorted(self.up.get(app, frozenset())):
                    try:
                        dyno_reader, dyno_writer = await asyncio.open_connection("127.0.0.1", port)
                    except OSError:
                        continue
                    await _splice(reader, writer, dyno_reader, dyno_writer)
                    return
                await asyncio.sleep(0.05)
            writer.write(H20_ANSWER)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def close() -> None:
            for server in self._servers:
                server.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def _splice(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    dyno_reader: asyncio.StreamReader,
    dyno_writer: asyncio.StreamWriter,
) -> None:
    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(Exception):
                if sink.can_write_eof():
                    sink.write_eof()

    try:
        await asyncio.gather(copy(reader, dyno_writer), copy(dyno_reader, writer))
    finally:
        dyno_writer.close()
