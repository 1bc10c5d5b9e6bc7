"""uvicorn's worker processes, with the listening socket closed as soon as SIGTERM arrives.

Why: with ``--workers``, uvicorn's parent binds the socket, hands it to the workers and
keeps its own copy open until it exits. On SIGTERM each worker closes its copy and drains
its requests (up to the graceful timeout), but the parent's copy keeps the port listening:
the kernel still completes connections nobody will accept, and when the parent exits they
are reset, the request already sent. Behind Heroku's router that is an H13 (connection
closed without response) for every request routed to the dyno after SIGTERM, held for as
long as the drain takes. Puma fixed the same bug in its cluster mode (puma/puma#1808,
Heroku's "Puma 4: Hammering Out H13s"). Closed at once, the port refuses new connections
once the workers have closed theirs, and a refused connection is one the router sends to
another dyno or holds for the restarted one.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType
from typing import Any

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ListenerClosingMultiprocess(Multiprocess):
    """``Multiprocess`` whose parent lets go of the listening sockets on SIGTERM or SIGINT,
    in the signal handler itself (uvicorn's own loop looks at signals every 0.5 s)."""

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
    config = Config(target, factory=True, workers=workers, **options)
    ListenerClosingMultiprocess(config, sockets=[config.bind_socket()]).run()
