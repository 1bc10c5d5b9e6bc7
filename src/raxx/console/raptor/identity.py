"""Who answers at an environment's Raptor, proven before any credential is sent.

Identity before credentials (the rules, in one place: docs/architecture/console-env-switcher.md
"Identity: the rules"): an environment's token is only ever written after that backend's
credential-free ``/v1/identity`` named the expected environment, at most ``identity_ttl_s``
ago, *and on the same generation of its connections* (``transport.py``): a refused, reset or
peer-closed connection, a new peer address or a ``wrong_environment`` answer ends the proof at
once, and the next credentialed call proves it again first.

:class:`RaptorBackend` is everything the console does with a Raptor without credentials
(its connections, the proof, readiness); :class:`raxx.console.raptor.client.RaptorClient`
adds the credentialed calls on top.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from raxx.common.contracts.service import Identity
from raxx.common.environments import EnvironmentSpec
from raxx.common.logging import log_event
from raxx.console.metrics import IdentityCounts
from raxx.console.raptor.errors import BackendMisconfigured, BackendUnavailable, describe
from raxx.console.raptor.transport import KeepAliveClient, Origin

log = logging.getLogger("raxx.console.raptor")

IdentityState = Literal["unknown", "ok", "misconfigured", "unreachable"]

#: Header lines of a call that carries no credentials (identity, readiness).
ANONYMOUS = b"Accept: application/json\r\n"


@dataclass
class IdentityStatus:
    state: IdentityState = "unknown"
    identity: Identity | None = None
    error: str | None = None
    checked_at: float = 0.0  # time.monotonic()
    latency_ms: float | None = None
    #: The client's connection generation the answer was given on (``transport.py``).
    generation: int = -1

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def age_s(self) -> float | None:
        """Seconds since the backend gave this answer; None when it was never asked."""
        return None if self.checked_at == 0.0 else max(0.0, time.monotonic() - self.checked_at)

    @property
    def age_text(self) -> str:
        """The answer's age in words, as every statement of identity shows it."""
        age = self.age_s
        if age is None:
            return "never checked"
        return "checked just now" if age < 1 else f"checked {age:.0f} s ago"


class RaptorBackend:
    """One environment's Raptor without credentials: one pooled keep-alive client (so a slow or
    dead staging never takes the connections prod needs), the proof of its identity, readiness."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        identity_ttl_s: float,
    ) -> None:
        self.spec = spec
        self.origin = Origin.of(spec.raptor_url)  # ValueError for a URL the client cannot call
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._identity_ttl = identity_ttl_s
        self._http: KeepAliveClient | None = None
        self._identity_lock = asyncio.Lock()
        self.status = IdentityStatus()
        #: Called once each time this backend starts naming another environment (the console records it).
        self.on_mismatch: Callable[[RaptorBackend, IdentityStatus], Awaitable[None]] | None = None
        #: Called once each time a backend that named another environment names its own again.
        self.on_recovery: Callable[[RaptorBackend, IdentityStatus], Awaitable[None]] | None = None
        #: None: unknown since this process started. A process before it may have raised the alert,
        #: so the first good answer resolves it too (a no-op when none is open), as the monitor does.
        self._named_another: bool | None = None
        self.identity_counts = IdentityCounts(spec.name)

    @property
    def environment(self) -> str:
        return self.spec.name

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    async def start(self) -> None:
        self._http = KeepAliveClient(self.origin, timeout_s=self._timeout_s, connect_timeout_s=self._connect_timeout_s)

    async def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def http(self) -> KeepAliveClient:
        if self._http is None:
            raise BackendUnavailable(f"the {self.environment} client is not started")
        return self._http

    async def check_identity(self, *, force: bool = False, max_age_s: float | None = None) -> IdentityStatus:
        """Ask the backend who it is, unless a fresh answer is cached (younger than the TTL, or
        than ``max_age_s`` when given: pages that state identity ask for a recent one)."""
        if not force and self._fresh(max_age_s):
            return self.status
        asked_at = time.monotonic()
        async with self._identity_lock:
            # A check that finished while we waited answers us too, even "unreachable":
            # otherwise N waiters behind a slow backend re-ask it one by one, and the
            # last one waits N timeouts instead of one.
            if not force and (self._fresh(max_age_s) or self.status.checked_at >= asked_at):
                return self.status
            previous, self.status = self.status, await self._fetch_identity()
            self.identity_counts.checked(self.status.state)
        if self.status.state == "misconfigured" and previous.state != "misconfigured" and self.on_mismatch:
            self._named_another = True
            await self.on_mismatch(self, self.status)
        elif self.status.ok and self._named_another is not False:  # even when unreachable in between
            self._named_another = False
            if self.on_recovery:
                await self.on_recovery(self, self.status)
        return self.status

    def _fresh(self, max_age_s: float | None = None) -> bool:
        status = self.status
        limit = self._identity_ttl if max_age_s is None else min(max_age_s, self._identity_ttl)
        return (
            status.state in ("ok", "misconfigured")
            and time.monotonic() - status.checked_at < limit
            and (self._http is None or status.generation == self._http.generation)
        )

    async def _fetch_identity(self) -> IdentityStatus:
        for _ in range(2):
            generation = self.http.generation
            status = await self._ask_identity(generation)
            if status.state != "ok" or self.http.generation == generation:
                return status
            # The connections changed while we asked (one lost, a new peer): the answer may
            # predate a swap, so it proves nothing. Ask once more.
        return IdentityStatus(
            state="unknown",
            error="its connections kept changing during the identity check",
            checked_at=time.monotonic(),
        )

    async def _ask_identity(self, generation: int) -> IdentityStatus:
        started = time.monotonic()
        try:
            answer = await self.http.get("/v1/identity", ANONYMOUS)
            if answer.status != 200:
                raise BackendUnavailable(f"identity answered HTTP {answer.status}")
            identity = Identity.model_validate_json(answer.body)
        except (ConnectionError, TimeoutError, BackendUnavailable, ValidationError) as exc:
            return IdentityStatus(state="unreachable", error=describe(exc, self.timeout_s), checked_at=time.monotonic())
        latency = (time.monotonic() - started) * 1000
        if identity.environment != self.environment:
            log_event(
                log,
                "console.identity.mismatch",
                level=logging.ERROR,
                environment=self.environment,
                backend_says=identity.environment,
                url=self.spec.raptor_url,
            )
            return IdentityStatus(
                state="misconfigured",
                identity=identity,
                error=f"{self.spec.raptor_url} says it is {identity.environment!r}, not {self.environment!r}",
                checked_at=time.monotonic(),
                latency_ms=latency,
                generation=generation,
            )
        return IdentityStatus(
            state="ok", identity=identity, checked_at=time.monotonic(), latency_ms=latency, generation=generation
        )

    def verified_fresh(self) -> bool:
        """Whether the backend's identity was verified within the TTL, on the connections'
        current generation (no I/O)."""
        return self.status.state == "ok" and self._fresh()

    def doubt(self, reason: str) -> None:
        """End the current proof of identity now (the next credentialed call proves it again)."""
        self.http.doubt()
        log_event(log, "console.identity.doubted", level=logging.WARNING, environment=self.environment, reason=reason)

    async def verified(self) -> Identity:
        """The backend's identity, proven to match; raises instead of ever sending credentials."""
        status = await self.check_identity()
        if status.state == "misconfigured":
            raise BackendMisconfigured(f"{self.spec.label} is MISCONFIGURED: {status.error}. Nothing was sent to it.")
        if status.state != "ok" or status.identity is None:
            raise BackendUnavailable(f"{self.spec.label} Raptor is unreachable: {status.error}")
        return status.identity

    async def readiness(self) -> tuple[int, Any]:
        """``/readyz`` needs no credentials; it is read even when identity is in doubt."""
        try:
            answer = await self.http.get("/readyz", ANONYMOUS)
            return answer.status, orjson.loads(answer.body) if answer.body.strip() else None
        except (ConnectionError, TimeoutError, orjson.JSONDecodeError) as exc:
            raise BackendUnavailable(describe(exc, self.timeout_s)) from None
