"""Builders and fakes for the audit tests: contexts, a superuser for tampering, a fake Raptor."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from raxx.console.audit.events import AuditContext

#: A fixed Ed25519 private key (its 32-byte seed is 0, 1, ..., 31), as CONSOLE_AUDIT_SIGNING_KEY holds it.
SIGNING_KEY = "ed25519-private:" + base64.b64encode(bytes(range(32))).decode()
#: The kind of HMAC secret CONSOLE_AUDIT_SIGNING_KEY held before Ed25519.
LEGACY_HMAC_KEY = "test-signing-key-0123456789abcdef-0123456789"


def audit_context(**overrides: Any) -> AuditContext:
    values: dict[str, Any] = {
        "actor_id": "6f1c0d4e-8a52-4a8e-9d0c-3b1f6f0a9e11",
        "actor_name": "alice",
        "session_id": "raw-session-id-never-stored",
        "environment": "staging",
        "request_id": "req-0001",
        "client_ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (test)",
    }
    values.update(overrides)
    return AuditContext(**values)


@contextmanager
def tamper(superuser_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A superuser connection whose triggers are off: what an attacker with DB root can do."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        yield conn


@dataclass
class FakeRaptor:
    """A real HTTP server on a free loopback port that plays one Raptor deployment.

    Serves ``POST /v1/orders/{id}/cancel`` (counted, remembered by X-Request-ID),
    ``GET /v1/identity`` and ``GET /v1/requests/{request_id}``.
    """

    environment: str = "staging"
    mutations: list[dict[str, Any]] = field(default_factory=list)
    handled: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookups: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def calls(self) -> int:
        return len(self.mutations)

    def start(self) -> FakeRaptor:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/v1/identity":
                    self._send(
                        200,
                        {
                            "service": "raptor",
                            "environment": fake.environment,
                            "release": "t",
                            "database": "db:0",
                            "started_at": "2026-01-01T00:00:00Z",
                        },
                    )
                    return
                match = re.fullmatch(r"/v1/requests/([^/]+)", self.path)
                if match:
                    fake.lookups += 1
                    seen = fake.handled.get(match.group(1))
                    self._send(
                        200,
                        {
                            "request_id": match.group(1),
                            "found": seen is not None,
                            "action": seen and seen["action"],
                            "target": seen and seen["target"],
                            "at": seen and seen["at"],
                        },
                    )
                    return
                self._send(404, {"error": "not_found", "detail": self.path})

            def do_POST(self) -> None:
                match = re.fullmatch(r"/v1/orders/([^/]+)/cancel", self.path)
                if not match:
                    self._send(404, {"error": "not_found", "detail": self.path})
                    return
                request_id = self.headers.get("X-Request-ID", "")
                record = {
                    "action": "order.cancel",
                    "target": match.group(1),
                    "at": datetime.now(UTC).isoformat(),
                    "request_id": request_id,
                }
                fake.mutations.append(record)
                fake.handled[request_id] = record
                self._send(200, {"order_id": match.group(1), "status": "cancelled"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


REPO_ROOT = Path(__file__).resolve().parents[3]


def worker_process(*args: str) -> subprocess.Popen[bytes]:
    """Start ``tests/console/audit/worker.py`` as its own OS process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.console.audit.worker", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
