"""Heroku's router, played by Debian's nginx: TLS in front of every app's web dynos.

What it reproduces (Dev Center: "HTTP Routing", "HTTP Request IDs", "Request Timeout"):

* TLS terminates at the router; the dyno gets plain HTTP with ``X-Forwarded-Proto: https``,
  ``X-Forwarded-Port``, ``X-Forwarded-For`` (the client's address appended to any it
  sent), ``X-Request-Start`` (ms since the epoch) and ``X-Request-Id``: the client's when
  it is 20-200 characters of letters, digits, ``+/=-``, else a new one (nginx's
  ``$request_id``, 32 hex digits).
* A request is spread over the app's web dynos (round robin: nginx's ``random`` cannot have
  a backup server); a dyno being stopped is taken out of the rotation first (Heroku's router
  stops routing to a dyno it sends SIGTERM), one that refuses the connection is skipped for
  another (before anything was sent, so POSTs too), and while no dyno is up a request waits
  for one in the boot queue (``tests/heroku/queue.py``, Heroku's H20 window).
* 30 s for the dyno's response (H12 Request timeout) answered as a 503, like every router
  error (H13 for a connection closed without a response); ``X-Heroku-Local-Error`` says
  which. The app's own statuses pass through untouched.
* No keep-alive to dynos: every request opens its own connection to the dyno.

Each app gets its own port (Heroku tells apps apart by host name and SNI; one port per
app keeps the URLs plain ``https://127.0.0.1:<port>``). The access log is written in the
router's ``at=info method=... dyno=web.1 ... status=...`` form.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from raxx.common.pgembed import free_port
from tests.fixtures.nginx import NGINX, launch_nginx
from tests.heroku.pki import Pki

ROUTER_TIMEOUT_S = 30
RELOAD_TIMEOUT_S = 30.0
SHUTTING_DOWN = "nginx: worker process is shutting down"

HTTP = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  map $http_x_request_id $heroku_request_id {{
    "~^[A-Za-z0-9+/=-]{{20,200}}$" $http_x_request_id;
    default $request_id;
  }}
  map $msec $heroku_request_start {{
    "~^(?<s>[0-9]+)\\.(?<ms>[0-9]+)$" "$s$ms";
  }}
  map $upstream_addr $heroku_dyno {{
{dyno_map}
    default "none";
  }}
  map $status $heroku_at {{ 503 "error"; default "info"; }}
  log_format heroku 'at=$heroku_at code=$sent_http_x_heroku_local_error method=$request_method path="$request_uri" '
                    'host=$http_host request_id=$heroku_request_id fwd="$remote_addr" dyno=$heroku_dyno '
                    'connect=${{upstream_connect_time}}s service=${{upstream_response_time}}s status=$status '
                    'bytes=$body_bytes_sent protocol=https';
{upstreams}
{servers}
}}
"""

UPSTREAM = """  upstream {name} {{
{servers}
  }}"""

SERVER = """  server {{
    listen 127.0.0.1:{port} ssl;
    server_name {name}.localhost 127.0.0.1 localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls_{name}:1m;
    access_log {prefix}/{name}.access.log heroku;
    client_max_body_size 10m;
    location / {{
      proxy_pass http://{name};
      proxy_http_version 1.1;
      proxy_set_header Connection close;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Port {port};
      proxy_set_header X-Request-Start $heroku_request_start;
      proxy_set_header X-Request-Id $heroku_request_id;
      proxy_connect_timeout 5s;
      proxy_send_timeout {timeout}s;
      proxy_read_timeout {timeout}s;
      proxy_buffering off;
      proxy_next_upstream error;
      proxy_next_upstream_tries {tries};
      error_page 504 =503 @h12;
      error_page 502 =503 @h13;
    }}
    location @h12 {{
      add_header X-Heroku-Local-Error H12 always;
      add_header X-Request-Id $heroku_request_id always;
      default_type text/html;
      return 503 "<!DOCTYPE html><title>Application Error</title><p>Request timeout (H12)</p>\\n";
    }}
    location @h13 {{
      add_header X-Heroku-Local-Error H13 always;
      add_header X-Request-Id $heroku_request_id always;
      default_type text/html;
      return 503 "<!DOCTYPE html><title>Application Error</title><p>No response from a web dyno (H13)</p>\\n";
    }}
  }}"""


@dataclass
class Route:
    """An app's public side: its router port and its web dynos' ports by dyno name."""

    app: str
    port: int
    dynos: dict[str, int]
    queue_port: int | None = None
    down: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


class Router:
    """One nginx process routing every app; ``reload()`` after a formation change."""

    def __init__(self, prefix: Path, pki: Pki, *, timeout_s: int = ROUTER_TIMEOUT_S) -> None:
        self.prefix = prefix
        self.pki = pki
        self.timeout_s = timeout_s
        self.routes: dict[str, Route] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # restarts of several apps run in parallel
        prefix.mkdir(parents=True, exist_ok=True)

    def add(self, app: str, dynos: dict[str, int], queue_port: int | None = None) -> Route:
        route = Route(app, free_port(), dict(dynos), queue_port)
        self.routes[app] = route
        return route

    def set_down(self, app: str, dyno: str, down: bool) -> None:
        """Take a dyno out of the rotation (before it is stopped) or put it back (once up)."""
        with self._lock:
            route = self.routes[app]
            if down:
                route.down.add(dyno)
            else:
                route.down.discard(dyno)
            self.reload()

    def reload(self) -> None:
        """New config, graceful: nginx's old workers finish the requests they carry.

        Returns once the new config routes: a new worker runs and every old one has taken
        the "shutting down" title nginx gives a worker as it closes its listening sockets
        and idle connections. A fixed pause was not enough on a loaded machine: a dyno
        was sent SIGTERM while the router still sent it requests, which Heroku's order
        (routing paused, then the dyno stopped) does not do.
        """
        if self.process is None or self.process.poll() is not None:
            return
        self._write()
        old = _workers(self.process.pid)
        os.kill(self.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            current = _workers(self.process.pid)
            if set(current) - set(old) and all(current.get(pid, SHUTTING_DOWN) == SHUTTING_DOWN for pid in old):
                return
            time.sleep(0.02)
        raise RuntimeError(f"the router did not reload in {RELOAD_TIMEOUT_S:.0f} s")

    def config(self) -> str:
        def upstream_name(app: str) -> str:
            return app.replace("-", "_")

        dyno_map = "\n".join(
            f'    "127.0.0.1:{port}" "{dyno}";'
            for route in self.routes.values()
            for dyno, port in [*route.dynos.items(), ("queue", route.queue_port)]
            if port is not None
        )
        upstreams = "\n".join(
            UPSTREAM.format(name=upstream_name(route.app), servers=self._servers(route))
            for route in self.routes.values()
        )
        servers = "\n".join(
            SERVER.format(
                name=upstream_name(route.app),
                port=route.port,
                cert=self.pki.cert_file,
                key=self.pki.key_file,
                prefix=self.prefix,
                timeout=self.timeout_s,
                tries=len(route.dynos) + (route.queue_port is not None),
            )
            for route in self.routes.values()
        )
        return HTTP.format(prefix=self.prefix, dyno_map=dyno_map, upstreams=upstreams, servers=servers)

    @staticmethod
    def _servers(route: Route) -> str:
        lines = [
            f"    server 127.0.0.1:{port} max_fails=0{' down' if dyno in route.down else ''};"
            for dyno, port in route.dynos.items()
        ]
        if route.queue_port is not None:
            # max_fails=0 as for the dynos: nginx would otherwise take the queue out for 10 s
            # after one request timed out waiting in it, and answer "no live upstreams" (a 502,
            # shown as H13) to everything meanwhile; Heroku's router has no such state.
            lines.append(f"    server 127.0.0.1:{route.queue_port} backup max_fails=0;")
        return "\n".join(lines)

    def _write(self) -> Path:
        path = self.prefix / "nginx.conf"
        path.write_text(self.config())
        return path

    def start(self) -> None:
        config = self._write()
        check = subprocess.run([NGINX, "-t", "-p", str(self.prefix), "-c", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"router config refused by nginx:\n{check.stderr}")
        self.process = launch_nginx(self.prefix, config)
        deadline = time.monotonic() + 15
        pending = {route.port for route in self.routes.values()}
        while pending and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("router (nginx) exited: " + (self.prefix / "error.log").read_text(errors="replace"))
            for port in list(pending):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    pending.discard(port)
            time.sleep(0.05)
        if pending:
            raise RuntimeError(f"router did not listen on {sorted(pending)} in 15 s")

    def access_log(self, app: str) -> Path:
        return self.prefix / f"{app.replace('-', '_')}.access.log"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _workers(master: int) -> dict[int, str]:
    """nginx's worker processes under ``master``: pid -> process title."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != master:  # field 4: the parent's pid
                continue
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if "worker process" in title:
                found[int(entry)] = title
    return found
