"""The platform: apps, releases, the release phase, formations, restarts, one-off dynos.

Heroku semantics reproduced here (Dev Center: "Release Phase", "Dynos", "Config Vars"):

* Every release (first deploy, config change) runs the Procfile's ``release`` command in a
  one-off dyno with the new release's slug and config, before any dyno runs it. If it
  fails, the release is marked failed and the previous release keeps serving, untouched.
* A new release restarts the app's dynos; here one by one, so a multi-dyno app keeps
  serving while it cycles.
* A credential rotation changes an add-on's config var: a new release without a release
  phase (add-on config changes are the exception), dynos restarted.
* One-off dynos (``heroku run``) get the app's config and ``DYNO=run.N``.
* Config vars an app is given must be declared in ``app.json``; add-on attachments
  (``DATABASE_URL``, ``GATE_DATABASE_URL``) come from the platform.
* Every dyno has the memory quota of ``app.json``'s dyno size, and R14 in its log while
  over it (``tests/heroku/memory.py``).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from raxx.common.pgembed import free_port
from tests.heroku.addons import PostgresAddon, PostgresServer
from tests.heroku.dyno import Dyno, DynoError, dyno_environment
from tests.heroku.manifest import AppManifest, read_app_json, read_procfile
from tests.heroku.memory import MemoryWatch, quota_mb
from tests.heroku.pki import Pki, make_pki
from tests.heroku.queue import BootQueue
from tests.heroku.router import Route, Router
from tests.heroku.slug import Slug, build_slug

RELEASE_PHASE_TIMEOUT_S = 600.0


class ReleaseFailed(RuntimeError):
    """The release phase exited non-zero: the release failed, the previous one serves."""


@dataclass
class Release:
    version: int
    config: dict[str, str]
    description: str
    status: str = "pending"
    output: str = ""


@dataclass
class App:
    name: str
    formation: dict[str, int]
    addons: dict[str, PostgresAddon]
    releases: list[Release] = field(default_factory=list)
    dynos: dict[str, Dyno] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    route: Route | None = None

    @property
    def current(self) -> Release | None:
        succeeded = [r for r in self.releases if r.status == "succeeded"]
        return succeeded[-1] if succeeded else None

    @property
    def url(self) -> str:
        assert self.route is not None, f"{self.name} has no web process"
        return self.route.url

    def attachments(self) -> dict[str, str]:
        return {f"{name}_URL": addon.url() for name, addon in self.addons.items()}


class HerokuLocal:
    """Apps built from one slug, run as Heroku runs them. ``close()`` stops everything."""

    def __init__(
        self,
        state: Path,
        *,
        repo: Path,
        admin_url: str | None = None,
        slug_dir: Path | None = None,
        router_timeout_s: int = 30,
    ) -> None:
        self.state = state.resolve()
        self.repo = repo.resolve()
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs = self.state / "logs"
        for stale in (self.logs, self.state / "router", self.state / "pki"):  # a previous run's
            shutil.rmtree(stale, ignore_errors=True)
        self.slug_dir = (slug_dir or self.state / "slug").resolve()
        self.procfile = read_procfile(self.repo / "Procfile")
        self.manifest: AppManifest = read_app_json(self.repo / "app.json")
        self.run_id = uuid.uuid4().hex[:6]
        self.admin_url = admin_url
        self.router_timeout_s = router_timeout_s
        self.apps: dict[str, App] = {}
        self.server: PostgresServer | None = None
        self.pki: Pki | None = None
        self.router: Router | None = None
        self.queue = BootQueue()
        self.slug: Slug | None = None
        self.commit = _git_head(self.repo)
        self.memory = MemoryWatch(self._formation_dynos, quota_mb=quota_mb(self.manifest.dyno_size))
        self.memory.start()

    def _formation_dynos(self) -> list[Dyno]:
        return [dyno for app in list(self.apps.values()) for dyno in list(app.dynos.values())]

    # -- the pieces ------------------------------------------------------------------

    def build(self, *, fresh: bool = False, compress: bool = False) -> Slug:
        """The buildpack's compile step (serialised: parallel runs share the cached slug)."""
        self.slug_dir.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.slug_dir.parent / f".{self.slug_dir.name}.lock"):
            self.slug = build_slug(self.repo, self.slug_dir, fresh=fresh, compress=compress)
        return self.slug

    def open_database_server(self) -> PostgresServer:
        self.server = PostgresServer.open(self.state, self.admin_url)
        return self.server

    def create_app(self, name: str, formation: Mapping[str, int], *, extra_databases: tuple[str, ...] = ()) -> App:
        """``heroku apps:create`` plus ``addons:create heroku-postgresql:<plan>`` (and more
        attachments, e.g. ``GATE_DATABASE``), each add-on with the plan's connection limit."""
        assert self.server is not None, "open_database_server() first"
        unknown = set(formation) - set(self.procfile)
        if unknown:
            raise ValueError(f"{name}: formation names process types the Procfile lacks: {sorted(unknown)}")
        addons = {}
        for attachment in ("DATABASE", *extra_databases):
            suffix = attachment.lower().removesuffix("_database").removesuffix("database").strip("_")
            role = f"hx_{self.run_id}_{name.replace('-', '_')}" + (f"_{suffix}" if suffix else "")
            addon = PostgresAddon(self.server, role, self.manifest.connection_limit)
            addon.provision()
            addons[attachment] = addon
        app = App(name, dict(formation), addons)
        app.ports = {f"web.{i}": free_port() for i in range(1, formation.get("web", 0) + 1)}
        self.apps[name] = app
        return app

    def start_router(self, app_names: list[str]) -> Router:
        """TLS router in front of every app with web dynos (before they boot: ports are fixed)."""
        self.pki = make_pki(self.state / "pki", app_names)
        self.router = Router(self.state / "router", self.pki, timeout_s=self.router_timeout_s)
        for name in app_names:
            app = self.apps[name]
            if app.ports:
                app.route = self.router.add(name, app.ports, self.queue.add(name))
        self.router.start()
        return self.router

    # -- releases ---------------------------------------------------------------------

    def release(self, name: str, config: Mapping[str, str | None], description: str) -> Release:
        """A new release with ``config`` merged in (None unsets); release phase; dynos restarted."""
        app = self.apps[name]
        base = dict(app.current.config) if app.current else {}
        for key, value in config.items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
        self.manifest.check_config(name, base)
        release = Release(len(app.releases) + 1, base, description)
        app.releases.append(release)
        self._event(app, f"Release v{release.version} created: {description}")
        if "release" in self.procfile:
            status, output = self.run(name, self.procfile["release"], dyno_kind="release", release=release)
            release.output = output
            if status != 0:
                release.status = "failed"
                self._event(app, f"Release v{release.version} failed: release command exited {status}")
                raise ReleaseFailed(f"{name} v{release.version}: release phase exited {status}:\n{output[-2000:]}")
        release.status = "succeeded"
        self._event(app, f"Release v{release.version} is current")
        if app.dynos:
            self.restart(name)
        return release

    def rotate_credentials(self, name: str, attachment: str = "DATABASE") -> tuple[str, str]:
        """``heroku pg:credentials:rotate``: a new password (the old one refused at once), a new
        release carrying the new ``<ATTACHMENT>_URL`` (no release phase), dynos restarted.
        Returns the old and the new URL."""
        app = self.apps[name]
        addon = app.addons[attachment]
        old = addon.url()
        new = addon.rotate()
        current = app.current
        assert current is not None
        release = Release(len(app.releases) + 1, dict(current.config), f"Rotate {attachment} credentials", "succeeded")
        app.releases.append(release)
        self._event(app, f"Release v{release.version} is current: {release.description}")
        self.restart(name)
        return old, new

    # -- dynos ------------------------------------------------------------------------

    def _env(self, app: App, dyno: str, port: int, release: Release) -> dict[str, str]:
        assert self.slug is not None
        assert self.pki is not None
        metadata = {
            "HEROKU_APP_NAME": app.name,
            "HEROKU_RELEASE_VERSION": f"v{release.version}",
            "HEROKU_SLUG_COMMIT": self.commit,
            "HEROKU_DYNO_ID": str(uuid.uuid4()),
            # Stands in for the public CAs a dyno trusts: the harness CA is added to them.
            "SSL_CERT_FILE": str(self.pki.bundle),
        }
        return dyno_environment(
            slug_bin=self.slug.bin_dir,
            slug_root=self.slug.root,
            config={**release.config, **app.attachments()},
            dyno=dyno,
            port=port,
            metadata=metadata,
        )

    def _dyno(self, app: App, dyno_name: str, command: str, port: int, release: Release) -> Dyno:
        assert self.slug is not None
        return Dyno(
            app=app.name,
            name=dyno_name,
            command=command,
            port=port,
            env=self._env(app, dyno_name, port, release),
            cwd=self.slug.root,
            log_path=self.logs / app.name / f"{dyno_name}.log",
            events=self.logs / app.name / "heroku.log",
        )

    def start_formation(self, name: str) -> dict[str, float]:
        """Start every dyno of the formation; the boot time of each web dyno."""
        app = self.apps[name]
        release = app.current
        assert release is not None, f"{name} has no release yet"
        boots: dict[str, float] = {}
        for process_type, quantity in app.formation.items():
            for i in range(1, quantity + 1):
                dyno_name = f"{process_type}.{i}"
                port = app.ports.get(dyno_name) or free_port()
                dyno = self._dyno(app, dyno_name, self.procfile[process_type], port, release)
                app.dynos[dyno_name] = dyno
                dyno.start()
        for dyno_name, dyno in app.dynos.items():
            if dyno.process_type == "web":
                boots[dyno_name] = dyno.wait_bound()
                self.queue.set_up(name, dyno.port, True)
        return boots

    def restart(self, name: str, dyno_names: list[str] | None = None) -> dict[str, tuple[int | None, float]]:
        """``heroku ps:restart``: each dyno stopped (SIGTERM, SIGKILL after 30 s) and started
        again on the current release, one by one. Returns each dyno's exit status and how long
        its stop took."""
        app = self.apps[name]
        release = app.current
        assert release is not None
        done: dict[str, tuple[int | None, float]] = {}
        for dyno_name in dyno_names or list(app.dynos):
            old = app.dynos[dyno_name]
            web = old.process_type == "web"
            if web:  # the router stops sending to a dyno before it gets SIGTERM
                self.queue.set_up(name, old.port, False)
                if self.router is not None:
                    self.router.set_down(name, dyno_name, True)
            started = time.monotonic()
            status = old.stop()
            stopped_in = time.monotonic() - started
            fresh = self._dyno(app, dyno_name, old.command, old.port, release)
            fresh.exit_statuses = old.exit_statuses
            app.dynos[dyno_name] = fresh
            fresh.start()
            if web:
                fresh.wait_bound()
                self.queue.set_up(name, fresh.port, True)
                if self.router is not None:
                    self.router.set_down(name, dyno_name, False)
            done[dyno_name] = (status, stopped_in)
        return done

    def run(
        self,
        name: str,
        command: str,
        *,
        dyno_kind: str = "run",
        release: Release | None = None,
        timeout: float = 120.0,
        stdin: str | None = None,
    ) -> tuple[int, str]:
        """A one-off dyno (``heroku run``, or the release phase): its exit status and output
        (standard output first, then the rest of its log)."""
        app = self.apps[name]
        chosen = release or app.current
        assert chosen is not None
        app.runs += 1
        dyno = self._dyno(app, f"{dyno_kind}.{app.runs}", command, free_port(), chosen)
        dyno.stdout_path = dyno.log_path.with_suffix(".stdout")
        dyno.start(stdin)
        try:
            status = dyno.run_to_end(RELEASE_PHASE_TIMEOUT_S if dyno_kind == "release" else timeout)
        except DynoError:
            status = 124
        return status, dyno.stdout_path.read_text(errors="replace") + dyno.log_path.read_text(errors="replace")

    def start_one_off(self, name: str, command: str) -> Dyno:
        """A one-off dyno left running (``heroku run`` in another terminal); stop it with ``.stop()``."""
        app = self.apps[name]
        assert app.current is not None
        app.runs += 1
        dyno = self._dyno(app, f"run.{app.runs}", command, free_port(), app.current)
        dyno.start()
        return dyno

    # -- logs and shutdown --------------------------------------------------------------

    def _event(self, app: App, text: str) -> None:
        path = self.logs / app.name / "heroku.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as out:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} heroku[api]: {text}\n")

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.logs.rglob("*.log") if p.name != "heroku.log")

    def grep_logs(self, needle: str, context: int = 160) -> list[str]:
        """Lines of every dyno's log containing ``needle`` (case-insensitive), prefixed app[dyno],
        cut to ``context`` characters around the last match (a traceback is one long JSON line)."""
        found = []
        for path in self.log_files():
            for line in path.read_text(errors="replace").splitlines():
                at = line.lower().rfind(needle.lower())
                if at >= 0:
                    start = max(0, at - context)
                    found.append(f"{path.parent.name}[{path.stem}]: ...{line[start : at + len(needle) + context]}")
        return found

    def stop(self) -> dict[str, int | None]:
        """Every dyno stopped as Heroku stops them; their exit statuses."""
        statuses: dict[str, int | None] = {}
        for app in reversed(list(self.apps.values())):
            for dyno_name, dyno in app.dynos.items():
                if dyno.running():
                    dyno.stop()
                statuses[f"{app.name} {dyno_name}"] = dyno.exit_statuses[-1] if dyno.exit_statuses else None
        return statuses

    def close(self, *, drop: bool = True) -> None:
        self.memory.stop()
        with contextlib.suppress(Exception):
            self.stop()
        if self.router is not None:
            self.router.stop()
        self.queue.stop()
        if drop:
            for app in self.apps.values():
                for addon in app.addons.values():
                    with contextlib.suppress(Exception):
                        addon.drop()
        if self.server is not None:
            self.server.stop()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _git_head(repo: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"
