"""``run/desired/`` and ``run/applied/``: deploys between the gate's local platform and ``raxx up``.

The gate's local platform (``raxx.gate.platform.local``) writes a deploy request,
``run/desired/<service>.json`` (:class:`DesiredRelease`); the supervisor of ``raxx up``
(``raxx.local.supervisor``) reads it, deploys, and answers in ``run/applied/<service>.json``
(:class:`AppliedRelease`), which the platform reads. Both sides go through these models,
so each file has one shape. A file without ``version`` was written before the files were
versioned and reads as version 1; any other version is refused with
:class:`UnreadableDeployFile`, saying so (the supervisor answers such a request as a failed
deploy; the platform raises it as a platform error).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError

VERSION: Literal[1] = 1


class UnreadableDeployFile(ValueError):
    """A deploy file this reader cannot read: another version, or not the version 1 shape."""


class _DeployFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    #: What the file is and who reads it, for the refusal's words.
    kind: ClassVar[str]
    reader: ClassVar[str]

    version: Literal[1] = VERSION
    request_id: str

    @classmethod
    def read(cls, data: dict[str, Any]) -> Self:
        """The file's content (``data``, parsed JSON), or :class:`UnreadableDeployFile` saying why not."""
        version = data.get("version", VERSION)
        if version != VERSION:
            raise UnreadableDeployFile(
                f"{cls.kind} version {version!r} is not understood by {cls.reader} (it reads version {VERSION});"
                " run the same raxx checkout for the gate and `raxx up`"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "(root)" for e in exc.errors())
            raise UnreadableDeployFile(f"not a version {VERSION} {cls.kind} (check: {fields})") from None


class DesiredRelease(_DeployFile):
    """Deploy ``release`` of the file's service; ``request_id`` comes back in the answer."""

    kind = "deploy request"
    reader = "this supervisor"

    release: str
    requested_at: datetime | None = None


class AppliedRelease(_DeployFile):
    """The supervisor's answer to the request ``request_id``: done (``ok``) or why not."""

    kind = "deploy answer"
    reader = "this gate"

    release: str | None = None
    ok: bool = False
    error: str | None = None
    migrations_ran: bool = False
    applied_at: datetime | None = None
