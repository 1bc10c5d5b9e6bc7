"""A dyno: one Procfile command running from the slug, as Heroku runs it.

* Environment: the release's config vars (nothing from the harness's own environment),
  ``PORT``, ``DYNO`` (``web.1``, ``run.3``, ``release.7``), ``WEB_CONCURRENCY`` (the
  Python buildpack's value for a Basic dyno: 2), the runtime-dyno-metadata variables, and
  what the buildpack's ``.profile.d`` scripts export (``PATH`` to the slug's Python,
  ``PYTHONUNBUFFERED``, ``LANG``, ``FORWARDED_ALLOW_IPS``). The command runs in ``bash -c``
  from the slug directory (``/app`` on Heroku), so ``$PORT`` expands as it does there.
* Boot: a web dyno is up once it accepts connections on ``$PORT``, and has 60 s (R10).
* Stop: SIGTERM to every process of the dyno (its process group), SIGKILL to whatever is
  left 30 s later (R12), then the exit status is recorded like Heroku's "Process exited
  with status N" (143 after an unhandled SIGTERM, 137 after SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BOOT_TIMEOUT_S = 60.0  # R10
STOP_TIMEOUT_S = 30.0  # R12: SIGKILL after this
BASIC_WEB_CONCURRENCY = "2"


class DynoError(RuntimeError):
    """A dyno crashed at boot, did not bind $PORT in time, or failed its command."""


def dyno_environment(
    *, slug_bin: Path, slug_root: Path, config: Mapping[str, str], dyno: str, port: int, metadata: Mapping[str, str]
) -> dict[str, str]:
    return {
        "PATH": f"{slug_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(slug_root),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "true",
        "FORWARDED_ALLOW_IPS": "*",
        "WEB_CONCURRENCY": BASIC_WEB_CONCURRENCY,
        **metadata,
        **config,
        "DYNO": dyno,
        "PORT": str(port),
    }


@dataclass
class Dyno:
    app: str
    name: str
    command: str
    port: int
    env: dict[str, str]
    cwd: Path
    log_path: Path
    events: Path
    process: subprocess.Popen[bytes] | None = None
    exit_statuses: list[int] = field(default_factory=list)
    killed: int = 0
    #: One-off dynos: standard output apart from the log (a token printed once), else None.
    stdout_path: Path | None = None

    @property
    def process_type(self) -> str:
        return self.name.split(".", 1)[0]

    def event(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self.events.open("a") as out:
            out.write(f"{stamp} heroku[{self.name}]: {text}\n")

    def start(self, stdin: str | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.event(f"Starting process with command `{self.command}`")
        with self.log_path.open("ab") as log, (self.stdout_path or self.log_path).open("ab") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", self.command],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=out,
                stderr=log,
                start_new_session=True,  # its own process group: "every process of the dyno"
            )
        if stdin is not None:
            assert self.process.stdin is not None
            self.process.stdin.write(stdin.encode())
            self.process.stdin.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_bound(self, timeout: float = BOOT_TIMEOUT_S) -> float:
        """Block until the dyno accepts connections on $PORT (Heroku's "up"); return the boot time."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is None or self.process.poll() is not None:
                status = self.process.returncode if self.process else None
                self.event(f"Process exited with status {status}")
                raise DynoError(f"{self.app} {self.name} crashed while booting (status {status}):\n{self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                elapsed = time.monotonic() - started
                self.event("State changed from starting to up")
                return elapsed
            time.sleep(0.1)
        self.event(f"Error R10 (Boot timeout) -> Web process failed to bind to $PORT within {timeout:.0f} seconds")
        self.stop()
        raise DynoError(f"{self.app} {self.name} did not bind $PORT in {timeout:.0f} s:\n{self.tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM to the process group; SIGKILL 30 s later; the exit status (None if never started)."""
        if self.process is None:
            return None
        pgid = self.process.pid
        if self.process.poll() is None or _group_alive(pgid):
            self.event("Stopping all processes with SIGTERM")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (self.process.poll() is None or _group_alive(pgid)):
                time.sleep(0.05)
            if self.process.poll() is None or _group_alive(pgid):
                self.event(
                    "Error R12 (Exit timeout) -> At least one process failed to exit "
                    f"within {timeout:.0f} seconds of SIGTERM"
                )
                self.event("Stopping remaining processes with SIGKILL")
                self.killed += 1
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        status = self.process.wait(10)
        status = 128 - status if status < 0 else status  # a signal, as the shell would report it
        self.exit_statuses.append(status)
        self.event(f"Process exited with status {status}")
        return status

    def run_to_end(self, timeout: float) -> int:
        """For one-off and release dynos: wait for the command, then its exit status."""
        assert self.process is not None
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise DynoError(f"{self.app} {self.name} ran longer than {timeout:.0f} s:\n{self.tail()}") from None
        self.exit_statuses.append(status)
        self.event(f"Process exited with status {status}")
        return status

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
