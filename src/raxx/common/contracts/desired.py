"""``run/desired/<service>.json``: a deploy request from the gate's local platform to ``raxx up``.

The gate's local platform (``raxx.gate.platform.local``) writes it; the supervisor of
``raxx up`` reads it, deploys, and answers in ``run/applied/<service>.json``. Both go
through :class:`DesiredRelease`, so the file has one shape. A request without ``version``
was written before the file was versioned and reads as version 1; any other version is
refused with :class:`UnknownDesiredVersion` (the supervisor answers it as a failed deploy).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

DESIRED_VERSION: Literal[1] = 1


class UnknownDesiredVersion(ValueError):
    """A deploy request this reader cannot read: another version, or not the v1 shape."""


class DesiredRelease(BaseModel):
    """Version 1: deploy ``release`` of the file's service; ``request_id`` comes back in ``applied/``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = DESIRED_VERSION
    release: str
    request_id: str
    requested_at: datetime | None = None

    @classmethod
    def read(cls, data: dict[str, Any]) -> DesiredRelease:
        """The request in ``data`` (a parsed file), or :class:`UnknownDesiredVersion` saying why not."""
        version = data.get("version", DESIRED_VERSION)
        if version != DESIRED_VERSION:
            raise UnknownDesiredVersion(
                f"deploy request version {version!r} is not understood by this supervisor (it reads version"
                f" {DESIRED_VERSION}); run the same raxx checkout for the gate and `raxx up`"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "(root)" for e in exc.errors())
            raise UnknownDesiredVersion(f"not a version {DESIRED_VERSION} deploy request (check: {fields})") from None
