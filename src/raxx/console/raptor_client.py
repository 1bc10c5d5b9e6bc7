"""Outbound calls to each environment's Raptor: one pooled aiohttp session per environment.

Why aiohttp: measured on this machine, a shared aiohttp session kept ~0.55x of direct
throughput through a Python proxy where a shared httpx client kept ~0.15x (see
``bench/README.md``). One session (and connection pool) per environment, so a slow or
dead staging can never exhaust the connections prod needs.

Identity before credentials: an environment's token is only ever sent after that
backend's ``/v1/identity`` named the expected environment, checked at most
``identity_ttl_s`` ago and again after any connection error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
import orjson
from pydantic import ValidationError

from raxx.common.contracts import Identity
from raxx.common.environments import EnvironmentRegistry, EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.console.keepalive import ConnectFailed, ConnectTimeout, KeepAliveClient, Origin, ResponseBroken

log = logging.getLogger("raxx.console.raptor")

IdentityState = Literal["unknown", "ok", "misconfigured", "unreachable"]


class BackendUnavailable(RaxxError):
    """Raptor could not be reached. ``audit_outcome`` says whether it may have acted anyway."""

    status_code = 502
    code = "backend_unavailable"
    #: "failed": nothing reached Raptor; "unknown": the request was sent, the answer was lost.
    audit_outcome = "failed"


class BackendTimeout(BackendUnavailable):
    status_code = 504
    code = "backend_timeout"


class BackendMisconfigured(RaxxError):
    """The backend says it is another environment: nothing is sent to it."""

    status_code = 503
    code = "backend_misconfigured"
    audit_outcome = "failed"


class BackendNotConfigured(RaxxError):
    status_code = 503
    code = "backend_not_configured"
    audit_outcome = "failed"


@dataclass
class IdentityStatus:
    state: IdentityState = "unknown"
    identity: Identity | None = None
    error: str | None = None
    checked_at: float = 0.0  # time.monotonic()
    latency_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class CallContext:
    """What every call to Raptor carries: the console request's id and the operator."""

    request_id: str
    actor: str


@dataclass
class RaptorResponse:
    status: int
    body: Any
    request_id: str
    latency_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class RawResponse:
    status: int
    content: bytes
    content_type: str
    request_id: str
    latency_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class RaptorClient:
    """Calls to one environment's Raptor. One method per remote endpoint lives in the pages' services."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        token: str | None,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        identity_ttl_s: float,
    ) -> None:
        self.spec = spec
        self._token = token
        self._auth = f"Bearer {token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._identity_ttl = identity_ttl_s
        self._session: aiohttp.ClientSession | None = None
        self._reads: KeepAliveClient | None = None  # the JSON API's reads (see :meth:`read`)
        # Raw header lines for the keep-alive client; a token it could not write as is goes through aiohttp.
        self._read_auth = (
            f"Authorization: Bearer {token}\r\nAccept: */*\r\n".encode() if token and _plain_ascii(token) else b""
        )
        self._identity_lock = asyncio.Lock()
        self.status = IdentityStatus()
        #: Called once each time this backend starts naming another environment (the console records it).
        self.on_mismatch: Callable[[RaptorClient, IdentityStatus], Awaitable[None]] | None = None

    @property
    def environment(self) -> str:
        return self.spec.name

    @property
    def timeout_s(self) -> float:
        return float(self._timeout.total or 0)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=30, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            base_url=self.spec.raptor_url + "/", connector=connector, timeout=self._timeout, raise_for_status=False
        )
        origin = Origin.of(self.spec.raptor_url)
        if origin is not None:  # https goes through aiohttp only
            self._reads = KeepAliveClient(
                origin, timeout_s=self.timeout_s, connect_timeout_s=float(self._timeout.sock_connect or self.timeout_s)
            )

    async def close(self) -> None:
        if self._reads is not None:
            self._reads.close()
            self._reads = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendUnavailable(f"the {self.environment} client is not started")
        return self._session

    async def check_identity(self, *, force: bool = False) -> IdentityStatus:
        """Ask the backend who it is, unless a fresh answer is cached."""
        if not force and self._fresh():
            return self.status
        asked_at = time.monotonic()
        async with self._identity_lock:
            # A check that finished while we waited answers us too, even "unreachable":
            # otherwise N waiters behind a slow backend re-ask it one by one, and the
            # last one waits N timeouts instead of one.
            if not force and (self._fresh() or self.status.checked_at >= asked_at):
                return self.status
            previous, self.status = self.status, await self._fetch_identity()
        if self.status.state == "misconfigured" and previous.state != "misconfigured" and self.on_mismatch:
            await self.on_mismatch(self, self.status)
        return self.status

    def _fresh(self) -> bool:
        return self.status.state in ("ok", "misconfigured") and (
            time.monotonic() - self.status.checked_at < self._identity_ttl
        )

    async def _fetch_identity(self) -> IdentityStatus:
        started = time.monotonic()
        try:
            async with self.session.get("v1/identity") as resp:
                payload = await resp.json(content_type=None)
                if resp.status != 200:
                    raise BackendUnavailable(f"identity answered HTTP {resp.status}")
            identity = Identity.model_validate(payload)
        except (aiohttp.ClientError, TimeoutError, BackendUnavailable, ValidationError, ValueError) as exc:
            return IdentityStatus(
                state="unreachable", error=_describe(exc, self.timeout_s), checked_at=time.monotonic()
            )
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
            )
        return IdentityStatus(state="ok", identity=identity, checked_at=time.monotonic(), latency_ms=latency)

    def verified_fresh(self) -> bool:
        """Whether the backend's identity was verified within the TTL (no I/O)."""
        return self.status.state == "ok" and self._fresh()

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
            async with self.session.get("readyz") as resp:
                return resp.status, await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise BackendUnavailable(_describe(exc, self.timeout_s)) from None

    async def send(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        json: Any = None,
        params: Params | None = None,
        query: str | None = None,
    ) -> RawResponse:
        """An authenticated call returning Raptor's bytes untouched (the JSON API passes them on).

        Identity is verified first; the token never leaves otherwise. ``query`` is an
        already-encoded query string (forwarded as is); ``params`` are encoded here.
        """
        if not self._token:
            raise BackendNotConfigured(
                f"no Raptor token is configured for {self.environment} ({self.spec.token_secret})",
                extra={"request_id": ctx.request_id},
            )
        await self.verified()
        headers = {"Authorization": self._auth, "X-Request-ID": ctx.request_id, "X-Raxx-Actor": ctx.actor}
        url = path.lstrip("/") + ("?" + query if query else "")
        started = time.monotonic()
        try:
            async with self.session.request(
                method, url, json=json, params=_encode_params(params), headers=headers
            ) as resp:
                content = await resp.read()
                return RawResponse(
                    status=resp.status,
                    content=content,
                    content_type=resp.content_type,
                    request_id=ctx.request_id,
                    latency_ms=(time.monotonic() - started) * 1000,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._transport_failure(exc, ctx) from None

    async def read(self, path: str, ctx: CallContext, *, query: str | None = None) -> RawResponse:
        """``GET path?query`` for the JSON API's read path: :meth:`send`'s checks and answer, on the
        lean keep-alive client (``keepalive.py``) where the URL allows, else on aiohttp.

        ``query`` is an already-encoded query string, forwarded as is.
        """
        target = "/" + path.lstrip("/") + ("?" + query if query else "")
        raw_safe = " " not in target and _plain_ascii(target) and _plain_ascii(ctx.actor + ctx.request_id)
        if self._reads is None or not self._read_auth or not raw_safe:
            # aiohttp encodes what this client would write as is (and refuses a missing token)
            return await self.send("GET", path, ctx, query=query)
        await self.verified()
        headers = b"%bX-Request-ID: %b\r\nX-Raxx-Actor: %b\r\n" % (
            self._read_auth,
            ctx.request_id.encode(),
            ctx.actor.encode(),
        )
        started = time.monotonic()
        try:
            answer = await self._reads.get(target, headers)
        except (ConnectionError, TimeoutError) as exc:
            raise self._transport_failure(exc, ctx) from None
        return RawResponse(
            status=answer.status,
            content=answer.body,
            content_type=answer.content_type.partition(";")[0].strip().lower(),
            request_id=ctx.request_id,
            latency_ms=(time.monotonic() - started) * 1000,
        )

    async def call(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        json: Any = None,
        params: Params | None = None,
    ) -> RaptorResponse:
        """An authenticated call with its JSON body decoded (see :meth:`send`; reads go through :meth:`read`)."""
        if method == "GET" and json is None:
            raw = await self.read(path, ctx, query=urlencode(_encode_params(params) or []))
        else:
            raw = await self.send(method, path, ctx, json=json, params=params)
        try:
            body = orjson.loads(raw.content) if raw.content else None
        except orjson.JSONDecodeError:
            body = {"error": "bad_backend_response", "detail": raw.content[:200].decode("utf-8", "replace")}
        return RaptorResponse(status=raw.status, body=body, request_id=raw.request_id, latency_ms=raw.latency_ms)

    def _transport_failure(self, exc: BaseException, ctx: CallContext) -> BackendUnavailable:
        """Whether Raptor may have acted decides the audit outcome: refused means nothing was sent."""
        # A connection error may mean the URL now points elsewhere: re-check identity next time.
        self.status = IdentityStatus(
            state="unreachable", error=_describe(exc, self.timeout_s), checked_at=time.monotonic()
        )
        detail = f"{self.spec.label} Raptor: {_describe(exc, self.timeout_s)}"
        kind = BackendTimeout if isinstance(exc, TimeoutError) else BackendUnavailable
        if isinstance(
            exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | ConnectFailed | ConnectTimeout
        ):
            return kind(detail + ". Nothing was sent.", extra={"request_id": ctx.request_id})
        failure = kind(
            f"{detail}. The request may have reached {self.environment}: check before retrying.",
            extra={"request_id": ctx.request_id},
        )
        failure.audit_outcome = "unknown"
        return failure


def _encode_params(params: Params | None) -> list[tuple[str, str]] | None:
    """Drop empty values; a list value repeats its key (``status=new&status=filled``)."""
    if not params:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    encoded: list[tuple[str, str]] = []
    for key, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        encoded.extend((key, str(v)) for v in values if v is not None and v != "")
    return encoded


def _plain_ascii(text: str) -> bool:
    """Printable ASCII only (no CR, LF or other controls): safe to write as is into a request head."""
    return text.isascii() and text.isprintable()


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectFailed):
        return "connection refused or host unreachable"
    if isinstance(exc, ResponseBroken):
        return f"the connection broke: {exc}"
    if isinstance(exc, RaxxError):
        return str(exc.detail)
    return f"{type(exc).__name__}: {exc}"[:200]


class RaptorClients:
    """One client per registered environment, started and closed with the app."""

    def __init__(self, clients: dict[str, RaptorClient]) -> None:
        self._clients = clients

    @classmethod
    def build(
        cls,
        registry: EnvironmentRegistry,
        tokens: dict[str, str | None],
        *,
        timeout_s: float,
        connect_timeout_s: float,
        identity_ttl_s: float,
    ) -> RaptorClients:
        return cls(
            {
                name: RaptorClient(
                    spec,
                    tokens.get(name),
                    timeout_s=timeout_s,
                    connect_timeout_s=connect_timeout_s,
                    identity_ttl_s=identity_ttl_s,
                )
                for name, spec in registry.items()
            }
        )

    def __getitem__(self, environment: str) -> RaptorClient:
        return self._clients[environment]

    def values(self) -> list[RaptorClient]:
        return list(self._clients.values())

    async def start(self) -> None:
        for client in self._clients.values():
            await client.start()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    async def refresh_identities(self) -> None:
        await asyncio.gather(*(c.check_identity(force=True) for c in self._clients.values()))
