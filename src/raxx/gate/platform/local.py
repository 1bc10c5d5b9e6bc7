"""The local platform: drives the processes that ``raxx up`` supervises.

Protocol with ``raxx.local.supervisor``: we write ``<data_dir>/run/desired/S.json``
(``raxx.common.contracts.desired.DesiredRelease``, version 1; atomically: temp file, then
rename); the supervisor runs the service's migrations, restarts it with the new release and
writes ``<data_dir>/run/applied/S.json`` with our request id. We wait for that file, then
for the service's identity to say the release.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from raxx.common.clock import Clock, SystemClock
from raxx.common.contracts.desired import AppliedRelease, DesiredRelease, UnreadableDeployFile
from raxx.gate.platform.base import DeployOutcome, PlatformError
from raxx.gate.policy import Policy
from raxx.gate.topology import Topology

POLL_SECONDS = 0.1


class LocalPlatform:
    name = "local"

    def __init__(
        self,
        topology_file: Path,
        policy: Policy,
        *,
        timeout: float = 180.0,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.topology_file = topology_file
        self.policy = policy
        self.timeout = timeout
        self.http = http
        self.clock = clock or SystemClock()

    def _topology(self) -> Topology:
        return Topology.read(self.topology_file)

    async def current_release(self, service: str) -> str | None:
        topology = self._topology()
        info = topology.services.get(service)
        if info is None:
            raise PlatformError(f"{service} is not in the topology {self.topology_file}")
        try:
            return await self._identity_release(service, info.url)
        except PlatformError:
            return info.release

    async def deploy(self, service: str, release: str) -> DeployOutcome:
        topology = self._topology()
        if service not in topology.services:
            raise PlatformError(f"{service} is not in the topology {self.topology_file}")
        request_id = uuid.uuid4().hex
        desired = DesiredRelease(release=release, request_id=request_id, requested_at=self.clock.now())
        write_json_atomically(
            topology.data_dir / "run" / "desired" / f"{service}.json", desired.model_dump(mode="json")
        )
        deadline = time.monotonic() + self.timeout
        applied = await self._wait_applied(
            topology.data_dir / "run" / "applied" / f"{service}.json", request_id, deadline
        )
        if not applied.ok:
            raise PlatformError(f"{service}: the supervisor could not apply {release}: {applied.error or 'no reason'}")
        await self._wait_identity(service, release, deadline)
        return DeployOutcome(
            service=service,
            release=release,
            migrations_ran=applied.migrations_ran,
            applied_at=applied.applied_at or self.clock.now(),
            request_id=request_id,
        )

    async def _wait_applied(self, path: Path, request_id: str, deadline: float) -> AppliedRelease:
        while time.monotonic() < deadline:
            applied = _read_json(path)
            if applied and applied.get("request_id") == request_id:
                try:
                    return AppliedRelease.read(applied)
                except UnreadableDeployFile as exc:
                    raise PlatformError(f"{path.stem}: {exc}") from None
            await asyncio.sleep(POLL_SECONDS)
        raise PlatformError(
            f"no answer from the supervisor in {self.timeout:g} s ({path} never carried request {request_id}); "
            f"is `raxx up` running?"
        )

    async def _wait_identity(self, service: str, release: str, deadline: float) -> None:
        seen: str | None = None
        while time.monotonic() < deadline:
            url = self._topology().services[service].url  # a restart may move the port
            try:
                seen = await self._identity_release(service, url)
            except PlatformError:
                seen = None
            if seen == release:
                return
            await asyncio.sleep(POLL_SECONDS)
        raise PlatformError(f"{service} was restarted but its identity says {seen or 'nothing'}, not {release}")

    async def _identity_release(self, service: str, url: str) -> str:
        app = self._topology().services[service].app
        path = self.policy.apps[app].identity_path if app in self.policy.apps else "/v1/identity"
        client = self.http or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(url + path, timeout=5.0)
            response.raise_for_status()
            return str(response.json()["release"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise PlatformError(f"{service} identity unreadable: {type(exc).__name__}") from None
        finally:
            if self.http is None:
                await client.aclose()


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
