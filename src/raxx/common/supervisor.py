"""uvicorn's servers as a dyno behind Heroku's router must stop: no request the router has
already sent is reset.

Two holes, both cutting a request the router sent (an H13: connection closed without
response; a POST is not retried):

* **The parent's copy of the listening socket.** With ``--workers``, uvicorn's parent binds
  the socket, hands it to the workers and keeps its own copy open until it exits. On SIGTERM
  each worker closes its copy and drains its requests (up to the graceful timeout), but the
  parent's copy keeps the port listening: the kernel still completes connections nobody will
  accept, and when the parent exits they are reset. Puma fixed the same bug in its cluster
  mode (puma/puma#1808, Heroku's "Puma 4: Hammering Out H13s"). Closed at once
  (``ListenerClosingMultiprocess``), the port refuses new connections once the workers have
  closed theirs, and a refused connection is one the router sends to another dyno or holds
  for the restarted one.
* **The accept queue.** A connection the kernel has completed but no worker has accepted yet
  already carries its request; uvicorn closes its listener first thing on shutdown, and
  the kernel resets what is queued (tests/common/test_supervisor.py makes it happen every
  time). A worker that lags under load has connections waiting there; CI's run of the
  Heroku harness once saw 20 orders cut (H13) while a dyno restarted under load, the way
  this explains. ``QueueDrainingServer`` accepts what is queued before it closes its
  listener, with no await between its last look and the close, and answers those requests
  as the drain answers every other one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn.supervisors.multiprocess as uvicorn_multiprocess
from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from raxx.common.logging import log_event
from raxx.common.router import BehindRouter

log = logging.getLogger("raxx.http")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How long a stop keeps taking connections off the accept queue before it closes it.
DRAIN_QUEUE_S = 2.0


class RouterConfig(Config):
    """uvicorn's ``Config`` whose ``proxy_headers`` means behind a router
    (``raxx.common.router.BehindRouter``: the client is the address the router appended), not
    uvicorn's ``ProxyHeadersMiddleware``."""

    def load(self) -> None:
        behind_router, self.proxy_headers = self.proxy_headers, False
        try:
            super().load()
        finally:
            self.proxy_headers = behind_router
        if behind_router:
            self.loaded_app = BehindRouter(self.loaded_app)


class QueueDrainingServer(Server):
    """uvicorn's ``Server`` whose shutdown first serves the connections waiting in the
    kernel's accept queue of its listening sockets (when it was given them: ``run(sockets)``)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        served = 0
        # Until a look finds the queue empty; from that look to the close (the first thing
        # Server.shutdown does) nothing awaits, so nothing can queue unseen in between.
        # Bounded: behind a router that never stops sending, the stop must still happen.
        give_up_at = loop.time() + DRAIN_QUEUE_S
        while loop.time() < give_up_at and (queued := _accept_queued(sockets or [])):
            for conn in queued:
                await loop.connect_accepted_socket(self._protocol_factory(loop), conn, ssl=self.config.ssl)
            served += len(queued)
        if served:  # how often a stop found requests waiting (each one an H13 without this)
            log_event(log, "http.stop.queued_accepted", connections=served)
        await super().shutdown(sockets)

    def _protocol_factory(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The protocol ``Server.startup`` builds for each connection it accepts (same arguments)."""
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=loop
            )

        return create_protocol


def _accept_queued(listeners: list[socket.socket]) -> list[socket.socket]:
    """Every connection already completed on ``listeners``, taken without waiting."""
    accepted: list[socket.socket] = []
    for listener in listeners:
        if listener.fileno() < 0:
            continue
        listener.setblocking(False)  # already so under the event loop; never wait here
        while True:
            try:
                conn, _address = listener.accept()
            except ConnectionAbortedError:  # reset while it waited: nothing left to answer
                continue
            except OSError:  # the queue is empty (EAGAIN), or no descriptor is left (EMFILE)
                break
            conn.setblocking(False)
            accepted.append(conn)
    return accepted


class QueueDrainingProcess(Process):
    """uvicorn's worker process, serving with ``QueueDrainingServer``."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = QueueDrainingServer(config=self.config)
        return self._server


class ListenerClosingMultiprocess(Multiprocess):
    """``Multiprocess`` whose parent lets go of the listening sockets on SIGTERM or SIGINT,
    in the signal handler itself (uvicorn's own loop looks at signals every 0.5 s), and
    whose workers are ``QueueDrainingProcess``es."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._stop_listening)

    def _stop_listening(self, sig: int, frame: FrameType | None) -> None:
        for sock in self.sockets:
            sock.close()
        # uvicorn's loop does the rest: it stops the workers and waits for their drain; set
        # here, not on its next look at the queue, so no worker is started again meanwhile.
        self.should_exit.set()
        self.signal_queue.append(sig)

    def run(self) -> None:
        # uvicorn makes its workers by this module-level name (on start, on restart and when
        # one died); it names no other class, so the swap lasts as long as this supervisor.
        uvicorn_multiprocess.Process = QueueDrainingProcess  # type: ignore[misc]
        try:
            super().run()
        finally:
            uvicorn_multiprocess.Process = Process  # type: ignore[misc]

    def keep_subprocess_alive(self) -> None:
        try:
            super().keep_subprocess_alive()
        except (OSError, ValueError):
            # A worker that exited on SIGTERM and was being replaced as the signal reached
            # the parent: its replacement cannot start on the closed socket, nor should it.
            if not self.should_exit.is_set():
                raise


def run_workers(target: str, *, workers: int, **options: Any) -> None:
    """``uvicorn.run(target, factory=True, workers=workers, **options)`` with
    ``ListenerClosingMultiprocess`` as the supervisor."""
    config = RouterConfig(target, factory=True, workers=workers, **options)
    ListenerClosingMultiprocess(config, sockets=[config.bind_socket()]).run()


def run_single(app: Any, **options: Any) -> None:
    """``uvicorn.run(app, **options)`` in this process, served by ``QueueDrainingServer``
    on a socket bound here (so the server has it to drain); exits 3 as uvicorn does when the
    app did not start."""
    config = RouterConfig(app, **options)
    server = QueueDrainingServer(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[config.bind_socket()])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
