"""The platform adapter protocol, in our own terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from raxx.common.errors import RaxxError


class PlatformError(RaxxError):
    """The platform could not deploy (nothing is known to have changed)."""

    status_code = 502
    code = "platform_error"
    exit_code = 5


@dataclass(frozen=True)
class DeployOutcome:
    service: str
    release: str
    migrations_ran: bool
    applied_at: datetime
    request_id: str


class Platform(Protocol):
    """Runs releases. ``deploy`` returns only once the service answers as ``release``."""

    name: str

    async def current_release(self, service: str) -> str | None:
        """The release the service runs now, per the platform (None when unknown)."""
        ...

    async def deploy(self, service: str, release: str) -> DeployOutcome:
        """Run ``release``'s migrations, then switch ``service`` to it; raise ``PlatformError``."""
        ...
