"""Outbound calls to each environment's Raptor: one pooled keep-alive client per environment.

Every call (identity, readiness, reads, actions) goes over ``transport.py``, plain HTTP or
TLS as the registry's URL says: measured on this machine, it costs the console a fraction
of aiohttp's CPU per proxied read, and a shared httpx client kept ~0.15x of direct
throughput (``bench/README.md``). One client (and connection pool) per environment, so a
slow or dead staging can never exhaust the connections prod needs.

Identity before credentials (the rules, in one place: docs/architecture/console-env-switcher.md
"Identity: the rules"): an environment's token is only ever written after that backend's
credential-free ``/v1/identity`` named the expected environment, at most ``identity_ttl_s``
ago, *and on the same generation of its connections* (``transport.py``): a refused, reset or
peer-closed connection, a new peer address or a ``wrong_environment`` answer ends the proof at
once, and the next credentialed call proves it again first. Both doors (the JSON API's fast
path and the routed endpoints) send through :meth:`RaptorClient.send`, the one home of the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from pydantic import ValidationError

from raxx.common import tracing
from raxx.common.contracts.service import Identity
from raxx.common.environments import EnvironmentRegistry, EnvironmentSpec
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.console.metrics import IdentityCounts
from raxx.console.raptor.transport import (
    ConnectFailed,
    ConnectTimeout,
    InDoubt,
    KeepAliveClient,
    Origin,
    ResponseBroken,
    ResponseClosed,
    TlsFailed,
    WireResponse,
)

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
        self.origin = Origin.of(spec.raptor_url)  # ValueError for a URL the client cannot call
        self._token = token
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._identity_ttl = identity_ttl_s
        self._http: KeepAliveClient | None = None
        # Header lines sent with every authenticated call, written once.
        self._auth = b"Authorization: Bearer %b\r\nAccept: */*\r\n" % _header_value(token or "")
        self._identity_lock = asyncio.Lock()
        self.status = IdentityStatus()
        #: Called once each time this backend starts naming another environment (the console records it).
        self.on_mismatch: Callable[[RaptorClient, IdentityStatus], Awaitable[None]] | None = None
        #: Called once each time a backend that named another environment names its own again.
        self.on_recovery: Callable[[RaptorClient, IdentityStatus], Awaitable[None]] | None = None
        self._named_another = False
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
        elif self.status.ok and self._named_another:  # even when unreachable in between
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
            answer = await self.http.get("/v1/identity", _ANONYMOUS)
            if answer.status != 200:
                raise BackendUnavailable(f"identity answered HTTP {answer.status}")
            identity = Identity.model_validate_json(answer.body)
        except (ConnectionError, TimeoutError, BackendUnavailable, ValidationError) as exc:
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
            answer = await self.http.get("/readyz", _ANONYMOUS)
            return answer.status, orjson.loads(answer.body) if answer.body.strip() else None
        except (ConnectionError, TimeoutError, orjson.JSONDecodeError) as exc:
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
        already-encoded query string (forwarded as is); ``params`` are encoded here and
        appended to it; ``json`` is sent as the JSON body.
        """
        if not self._token:
            raise BackendNotConfigured(
                f"no Raptor token is configured for {self.environment} ({self.spec.token_secret})",
                extra={"request_id": ctx.request_id},
            )
        if params:
            query = "&".join(q for q in (query, urlencode(_encode_params(params) or [])) if q)
        target = "/" + path.lstrip("/") + ("?" + query if query else "")
        headers = b"%bX-Request-ID: %b\r\nX-Raxx-Actor: %b\r\n" % (
            self._auth,
            _header_value(ctx.request_id),
            _header_value(ctx.actor),
        )
        body = None
        if json is not None:
            headers += b"Content-Type: application/json\r\n"
            body = orjson.dumps(json)
        elif method in _BODY_METHODS:
            body = b""
        started = time.monotonic()
        with (
            tracing.span(f"raptor {method}", client=True, attributes=self._span_attributes(method, path))
            if tracing.active()
            else _NO_SPAN
        ) as current:
            # W3C trace context: this call's span when tracing, else the request id as the trace id.
            headers += b"traceparent: %b\r\n" % tracing.traceparent(current, ctx.request_id).encode("ascii")
            answer = await self._send_proven(method.encode("ascii"), _request_target(target), headers, body, ctx)
            if current is not None:
                current.set_attribute("http.response.status_code", answer.status)
        if answer.status == 401 and b"wrong_environment" in answer.body:
            await self._wrong_environment(ctx)
        return RawResponse(answer.status, answer.body, ctx.request_id, (time.monotonic() - started) * 1000)

    def _span_attributes(self, method: str, path: str) -> dict[str, str]:
        return {
            "http.request.method": method,
            "url.path": "/" + path.lstrip("/"),
            "server.address": self.origin.host,
            "raxx.environment": self.environment,
        }

    async def _send_proven(
        self, method: bytes, target: str, headers: bytes, body: bytes | None, ctx: CallContext
    ) -> WireResponse:
        """Write the credentialed request only on the generation identity was proven on;
        prove it (again) first when it is not, or when the connections changed meanwhile."""
        for _ in range(3):
            if not self.verified_fresh():
                await self.verified()
            try:
                return await self.http.request(method, target, headers, body, proven=self.status.generation)
            except InDoubt:
                continue  # nothing was sent: prove identity on the new generation
            except ResponseClosed as exc:
                if exc.repeatable:  # a stale idle connection: prove identity, then send once more
                    continue
                raise self._transport_failure(exc, ctx) from None
            except (ConnectionError, TimeoutError) as exc:
                raise self._transport_failure(exc, ctx) from None
        raise BackendUnavailable(
            f"{self.spec.label} Raptor: its connections keep changing; identity cannot be proven. Nothing was sent.",
            extra={"request_id": ctx.request_id},
        )

    async def _wrong_environment(self, ctx: CallContext) -> None:
        """Raptor refused the token as another environment's: this backend is not who it was.

        The proof ends at once and the backend is asked again, without credentials; when it
        names another environment the call is refused as misconfigured (recorded once by
        ``on_mismatch``) and nothing more is sent to it until it proves itself again.
        """
        self.doubt("the backend answered wrong_environment to a credentialed call")
        status = await self.check_identity(force=True)
        if status.state == "misconfigured":
            raise BackendMisconfigured(
                f"{self.spec.label} is MISCONFIGURED: {status.error}. It refused this environment's token; "
                "nothing more is sent to it.",
                extra={"request_id": ctx.request_id},
            )

    async def read(self, path: str, ctx: CallContext, *, query: str | None = None) -> RawResponse:
        """``GET path?query``, :meth:`send`'s checks and answer (``query`` forwarded as is)."""
        return await self.send("GET", path, ctx, query=query)

    async def call(
        self,
        method: str,
        path: str,
        ctx: CallContext,
        *,
        json: Any = None,
        params: Params | None = None,
    ) -> RaptorResponse:
        """An authenticated call with its JSON body decoded (see :meth:`send`)."""
        raw = await self.send(method, path, ctx, json=json, params=params)
        try:
            body = orjson.loads(raw.content) if raw.content else None
        except orjson.JSONDecodeError:
            body = {"error": "bad_backend_response", "detail": raw.content[:200].decode("utf-8", "replace")}
        return RaptorResponse(status=raw.status, body=body, request_id=raw.request_id, latency_ms=raw.latency_ms)

    def _transport_failure(self, exc: BaseException, ctx: CallContext) -> BackendUnavailable:
        """Whether Raptor may have acted decides the audit outcome: refused means nothing was sent."""
        # A connection error may mean the URL now points elsewhere: re-check identity next time.
        self.http.doubt()
        self.status = IdentityStatus(
            state="unreachable", error=_describe(exc, self.timeout_s), checked_at=time.monotonic()
        )
        detail = f"{self.spec.label} Raptor: {_describe(exc, self.timeout_s)}"
        kind = BackendTimeout if isinstance(exc, TimeoutError) else BackendUnavailable
        if isinstance(exc, ConnectFailed | ConnectTimeout):
            return kind(detail + ". Nothing was sent.", extra={"request_id": ctx.request_id})
        failure = kind(
            f"{detail}. The request may have reached {self.environment}: check before retrying.",
            extra={"request_id": ctx.request_id},
        )
        failure.audit_outcome = "unknown"
        return failure


#: The Raptor call's span when tracing is off (the hot path builds nothing for it).
_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()
#: Header lines of a call that carries no credentials (identity, readiness).
_ANONYMOUS = b"Accept: application/json\r\n"
#: Methods whose request always states its body's length, even an empty one.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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


def _header_value(text: str) -> bytes:
    """``text`` as a header value: printable ASCII as is; anything else (a CR or LF that would
    end the header, a name in another script) percent-encoded, so it cannot split the head."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return quote(text, safe=_HEADER_SAFE).encode("ascii")


def _request_target(target: str) -> str:
    """The target as written on the request line: spaces, controls and non-ASCII characters
    percent-encoded (as UTF-8, as aiohttp did), what is already encoded left as it is."""
    if target.isascii() and target.isprintable() and " " not in target:
        return target
    return quote(target, safe=_HEADER_SAFE[1:])


#: Printable ASCII, space first: what a header value may hold as is (a target: without the space).
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F))


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, TlsFailed):
        return str(exc)
    if isinstance(exc, ConnectFailed):
        return f"connection refused or host unreachable ({exc})"
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
