"""A :class:`~raxx.console.audit.reconciler.RaptorRequestLookup` over HTTP, for ``raxx audit reconcile``.

It checks each backend's identity before sending it a credential (the same rule as
the console's Raptor client): a backend that says it is another environment is not
asked, and the attempt stays ``unknown``.
"""

from __future__ import annotations

import logging
import uuid

import httpx
from pydantic import ValidationError

from raxx.common.contracts.service import Identity, RequestLookupResult
from raxx.common.environments import EnvironmentRegistry
from raxx.common.errors import RaxxError
from raxx.common.logging import log_event
from raxx.common.secrets import SecretsProvider
from raxx.console.raptor.client import CallContext, RaptorClients

log = logging.getLogger("raxx.console.audit.lookup")


class HttpRequestLookup:
    def __init__(self, registry: EnvironmentRegistry, secrets: SecretsProvider, client: httpx.AsyncClient) -> None:
        self.registry = registry
        self.secrets = secrets
        self.client = client
        self._verified: set[str] = set()

    async def lookup(self, environment: str, request_id: str) -> RequestLookupResult | None:
        if environment not in self.registry:
            return None
        spec = self.registry[environment]
        token = self.secrets.get(spec.token_secret)
        if token is None or not await self._identity_matches(environment, spec.raptor_url):
            return None
        response = await self.client.get(
            f"{spec.raptor_url}/v1/requests/{request_id}",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": uuid.uuid4().hex},
        )
        if response.status_code != 200:
            log_event(
                log, "audit.lookup.refused", level=logging.WARNING, environment=environment, status=response.status_code
            )
            return None
        try:
            return RequestLookupResult.model_validate_json(response.content)
        except ValidationError:
            return None

    async def _identity_matches(self, environment: str, base_url: str) -> bool:
        if environment in self._verified:
            return True
        response = await self.client.get(f"{base_url}/v1/identity")
        try:
            identity = Identity.model_validate_json(response.content)
        except ValidationError:
            return False
        if response.status_code != 200 or identity.environment != environment:
            log_event(
                log,
                "audit.lookup.identity_mismatch",
                level=logging.ERROR,
                expected=environment,
                actual=identity.environment,
            )
            return False
        self._verified.add(environment)
        return True


class RaptorClientsLookup:
    """The same question through the console's own Raptor clients (identity verified, token server-side)."""

    def __init__(self, clients: RaptorClients) -> None:
        self.clients = clients

    async def lookup(self, environment: str, request_id: str) -> RequestLookupResult | None:
        try:
            client = self.clients[environment]
            response = await client.call(
                "GET", f"v1/requests/{request_id}", CallContext(request_id=uuid.uuid4().hex, actor="audit-reconciler")
            )
        except (RaxxError, KeyError):
            return None
        if response.status != 200:
            return None
        try:
            return RequestLookupResult.model_validate(response.body)
        except ValidationError:
            return None
