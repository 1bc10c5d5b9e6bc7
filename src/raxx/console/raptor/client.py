"""Credentialed calls to each environment's Raptor, one :class:`RaptorClient` per environment.

Every call (identity, readiness, reads, actions) goes over ``transport.py``, plain HTTP or
TLS as the registry's URL says: measured on this machine, it costs the console a fraction
of aiohttp's CPU per proxied read, and a shared httpx client kept ~0.15x of direct
throughput (``bench/README.md``). One client (and connection pool) per environment, so a
slow or dead staging can never exhaust the connections prod needs.

A token is written only on connections whose backend proved who it is (``identity.py``
holds the rules). Both doors (the JSON API's fast path and the routed endpoints) send
through :meth:`RaptorClient.send`, the one home of the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from raxx.common import tracing
from raxx.common.environments import EnvironmentRegistry, EnvironmentSpec
from raxx.console.raptor.connection import ConnectFailed, ConnectTimeout, InDoubt, ResponseClosed, WireResponse
from raxx.console.raptor.errors import (
    BackendMisconfigured,
    BackendNotConfigured,
    BackendTimeout,
    BackendUnavailable,
    describe,
)
from raxx.console.raptor.identity import IdentityStatus, RaptorBackend


@dataclass(frozen=True)
class CallContext:
    """What every call to Raptor carries: the console request's id and the operator."""

    request_id: str
    actor: str


class _Answer:
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class RaptorResponse(_Answer):
    """Raptor's answer with its JSON body decoded (:meth:`RaptorClient.call`)."""

    status: int
    body: Any
    request_id: str
    latency_ms: float


@dataclass
class RawResponse(_Answer):
    """Raptor's answer as the bytes it sent (:meth:`RaptorClient.send`, passed on by the JSON API)."""

    status: int
    content: bytes
    request_id: str
    latency_ms: float


Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


class RaptorClient(RaptorBackend):
    """Calls to one environment's Raptor with its token. One method per remote endpoint lives
    in :class:`raxx.console.raptor.trading_api.TradingClient`."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        token: str | None,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        identity_ttl_s: float,
    ) -> None:
        super().__init__(spec, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, identity_ttl_s=identity_ttl_s)
        self._token = token
        # Header lines sent with every authenticated call, written once.
        self._auth = b"Authorization: Bearer %b\r\nAccept: */*\r\n" % _header_value(token or "")

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
            state="unreachable", error=describe(exc, self.timeout_s), checked_at=time.monotonic()
        )
        detail = f"{self.spec.label} Raptor: {describe(exc, self.timeout_s)}"
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
