"""Child processes of ``raxx up``: start, stream logs, wait ready, restart, deploy, stop.

The supervisor is also the far side of the gate's *local platform*: a deploy request
is a file ``run/desired/<service>.json`` (``raxx.common.contracts.desired.DesiredRelease``,
the one shape both sides read and write); the supervisor migrates that service's
database, restarts it with the new release id and answers in ``run/applied/``.
Files (not sockets) so that a gate process, a test or a person can drive it, and
what happened stays on disk.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from raxx.common.contracts.desired import AppliedRelease, DesiredRelease, UnreadableDeployFile
from raxx.common.errors import Unavailable

PR_SET_PDEATHSIG = 1
_COLORS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m"]
_RESET = "\033[0m"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Children get SIGTERM if ``raxx up`` itself dies, so nothing is orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ServiceSpec:
    """One child: how to run it and how to tell it is ready."""

    name: str
    app: str
    environment: str | None
    argv: list[str]
    env: dict[str, str]
    url: str | None
    ready_path: str | None = "/readyz"
    release: str = "dev"
    release_var: str | None = None
    #: (owner_url, runtime_url, tree) to migrate before (re)starting on a deploy
    migrate: tuple[str, str, str] | None = None


@dataclass
class Child:
    spec: ServiceSpec
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    started_at: float = 0.0
    #: Wall-clock time of the last start on purpose (start-up or deploy), for the monitor:
    #: a probe failing soon after it is "starting". A restart after a crash leaves it.
    planned_start: str | None = None
    last_lines: list[str] = field(default_factory=list)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    tmp.replace(path)


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, dict[str, Any] | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs we built
            body = json.loads(resp.read() or b"{}")
            return resp.status == 200, body if isinstance(body, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return False, None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Supervisor:
    """Runs a set of services; thread-safe enough for one control loop plus log pumps."""

    def __init__(self, run_dir: Path, *, out: TextIO | None = None, log_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.out = out or sys.stdout
        self.children: dict[str, Child] = {}
        self._out_lock = threading.Lock()
        self._stopping = threading.Event()
        self._seen_requests: dict[str, str] = {}
        self._color = self.out.isatty() if hasattr(self.out, "isatty") else False
        self.migrator: Callable[[str, str, str], bool] | None = None

    # -- output -----------------------------------------------------------------
    def say(self, line: str) -> None:
        with self._out_lock:
            self.out.write(line + "\n")
            self.out.flush()

    def _pump(self, child: Child, stream: TextIO, index: int) -> None:
        name = child.spec.name
        prefix = f"{_COLORS[index % len(_COLORS)]}{name:>15}{_RESET} | " if self._color else f"{name:>15} | "
        logfile = (self.log_dir / f"{name}.log").open("a") if self.log_dir else None
        try:
            for line in stream:
                line = line.rstrip("\n")
                child.last_lines = ([*child.last_lines, line])[-30:]
                if logfile:
                    logfile.write(line + "\n")
                    logfile.flush()
                self.say(prefix + line)
        finally:
            if logfile:
                logfile.close()

    # -- lifecycle --------------------------------------------------------------
    def add(self, spec: ServiceSpec) -> None:
        self.children[spec.name] = Child(spec)

    def start(self, name: str, *, planned: bool = True) -> None:
        """Start ``name``; ``planned`` False for a restart after a crash (no start grace)."""
        child = self.children[name]
        spec = child.spec
        env = {**os.environ, **spec.env}
        if spec.release_var:
            env[spec.release_var] = spec.release
        env["RAXX_RELEASE"] = spec.release
        env["PYTHONUNBUFFERED"] = "1"
        child.process = subprocess.Popen(
            spec.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # Ctrl-C reaches us; we stop children in order
            preexec_fn=_die_with_parent,
        )
        child.started_at = time.monotonic()
        if planned:
            child.planned_start = now_iso()
        assert child.process.stdout is not None
        index = list(self.children).index(name)
        threading.Thread(target=self._pump, args=(child, child.process.stdout, index), daemon=True).start()

    def resume(self) -> dict[str, str]:
        """Take over from the previous run in ``run_dir``; return the releases to keep.

        A service the gate has deployed (it has an answer in ``applied/``) keeps the release
        the previous run last ran it on (its ``topology.json``): the ledger says that release
        runs there, and starting another one first would restart it moments later and
        record a release that never was deployed. The other services start with the
        checkout's release. Deploy requests left in ``desired/`` are taken as seen, never
        replayed: the gate that wrote them has had its answer, or has given up.
        """
        previous = _read_json(self.run_dir / "topology.json") or {}
        keep = {
            name: str(item["release"])
            for name, item in (previous.get("services") or {}).items()
            if isinstance(item, dict) and item.get("release") and (self.run_dir / "applied" / f"{name}.json").exists()
        }
        desired_dir = self.run_dir / "desired"
        for path in sorted(desired_dir.glob("*.json")) if desired_dir.is_dir() else []:
            request_id = (_read_json(path) or {}).get("request_id")
            if request_id:
                self._seen_requests[path.stem] = str(request_id)
        return keep

    def start_all(self) -> None:
        """Start the services, then those that watch them (no URL: the monitor) once they are ready.

        The topology file is written as soon as the services are started, so nothing
        probes the previous run's processes; the monitor starts last, so its first round
        finds every deployment up rather than starting.
        """
        served = [name for name, child in self.children.items() if child.spec.url is not None]
        for name in served:
            self.start(name)
        self.write_topology()
        for name in served:
            self.wait_ready(name)
        for name in self.children:
            if name not in served:
                self.start(name)
                self.wait_ready(name)
        self.write_topology()

    def wait_ready(self, name: str, timeout: float = 60.0, *, release: str | None = None) -> None:
        """Block until the service answers ready (and reports ``release``, when given)."""
        child = self.children[name]
        spec = child.spec
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.process is not None and child.process.poll() is not None:
                tail = "\n".join(child.last_lines[-15:])
                raise Unavailable(f"{name} exited with code {child.process.returncode} while starting:\n{tail}")
            if spec.url is None or spec.ready_path is None:
                return
            ok, body = http_ok(spec.url + spec.ready_path)
            if ok and (release is None or (body or {}).get("release") == release):
                return
            time.sleep(0.2)
        raise Unavailable(f"{name} did not become ready within {timeout:.0f} s (see its log lines above)")

    def stop_child(self, name: str, timeout: float = 10.0) -> None:
        child = self.children[name]
        process = child.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def stop_all(self) -> None:
        self._stopping.set()
        for name in reversed(list(self.children)):
            self.stop_child(name)

    def request_stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- topology file ----------------------------------------------------------
    def write_topology(self, extra: dict[str, Any] | None = None) -> None:
        services = {}
        for name, child in self.children.items():
            spec = child.spec
            services[name] = {
                "app": spec.app,
                "environment": spec.environment,
                "url": spec.url,
                "pid": child.process.pid if child.process else None,
                "release": spec.release,
                "started_at": child.planned_start,
            }
        payload = {"data_dir": str(self.run_dir.parent), "services": services, "updated_at": now_iso()}
        payload.update(extra or {})
        write_json_atomic(self.run_dir / "topology.json", payload)

    # -- supervision loop -------------------------------------------------------
    def tick(self) -> None:
        """One pass: restart crashed children, carry out deploy requests."""
        for name, child in self.children.items():
            process = child.process
            if process is not None and process.poll() is not None and not self.stopping:
                self._restart_crashed(name, child, process.returncode)
        self._handle_deploy_requests()

    def _restart_crashed(self, name: str, child: Child, code: int) -> None:
        child.restarts += 1
        if child.restarts > 5:
            self.say(f"{name:>15} | exited with code {code} and keeps crashing; not restarting it again")
            child.process = None
            return
        self.say(f"{name:>15} | exited with code {code}; restarting (attempt {child.restarts})")
        time.sleep(min(child.restarts, 3))
        self.start(name, planned=False)
        self.write_topology()

    def _handle_deploy_requests(self) -> None:
        desired_dir = self.run_dir / "desired"
        if not desired_dir.is_dir():
            return
        for path in sorted(desired_dir.glob("*.json")):
            name = path.stem
            try:
                request = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            request_id = str(request.get("request_id", ""))
            if not request_id or self._seen_requests.get(name) == request_id:
                continue
            self._seen_requests[name] = request_id
            try:
                desired = DesiredRelease.read(request)
            except UnreadableDeployFile as exc:
                self.say(f"{name:>15} | deploy request {request_id} refused: {exc}")
                refused = {"release": request.get("release"), "request_id": request_id, "ok": False, "error": str(exc)}
                self._answer(name, {**refused, "migrations_ran": False})
                continue
            self.deploy(name, desired.release, request_id)

    def deploy(self, name: str, release: str, request_id: str) -> dict[str, Any]:
        """Migrate, then restart ``name`` with ``release``; record the answer in ``applied/``."""
        result: dict[str, Any] = {
            "release": release,
            "request_id": request_id,
            "ok": False,
            "error": None,
            "migrations_ran": False,
        }
        child = self.children.get(name)
        try:
            if child is None:
                raise Unavailable(f"no service named {name!r} in this topology")
            if not release:
                raise Unavailable("the deploy request names no release")
            self.say(f"{name:>15} | deploying release {release} (request {request_id})")
            if child.spec.migrate and self.migrator:
                owner, runtime, tree = child.spec.migrate
                result["migrations_ran"] = self.migrator(tree, owner, runtime)
            previous = child.spec.release
            child.spec.release = release
            self.stop_child(name)
            self.start(name)
            self.write_topology()  # its new start time: the monitor counts it as starting meanwhile
            try:
                self.wait_ready(name, release=release)
            except Unavailable:
                # Bring the previous release back so a failed deploy does not leave the service down.
                child.spec.release = previous
                self.stop_child(name)
                self.start(name)
                raise
            result["ok"] = True
            self.say(f"{name:>15} | now running release {release}")
        except Unavailable as exc:
            result["error"] = str(exc.detail)
            self.say(f"{name:>15} | deploy of {release} failed: {exc.detail}")
        self._answer(name, result)
        return result

    def _answer(self, name: str, result: dict[str, Any]) -> None:
        """The answer to a deploy request, in ``applied/`` (the gate's local platform waits for it)."""
        result["applied_at"] = now_iso()
        answer = AppliedRelease.model_validate(result)
        write_json_atomic(self.run_dir / "applied" / f"{name}.json", answer.model_dump(mode="json"))
        self.write_topology()

    def run_forever(self, interval: float = 0.5) -> None:
        while not self.stopping:
            self.tick()
            self._stopping.wait(interval)
