"""The release board: written by the gate into the ledger, rendered by the console and the monitor."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from raxx.common.contracts.views import View

#: The board as the console reads it from the ledger: the gate's one-row snapshot (``body``
#: is a :class:`ReleaseBoard` as JSON).
RELEASE_BOARD_VIEW = View("release_board_v1", "ledger -> console", "generated_at timestamp with time zone, body jsonb")


class BoardRelease(BaseModel):
    """One deploy of a release as the ledger recorded it."""

    release: str
    commit: str
    artifact_digest: str
    deployed_at: datetime
    deployed_by: str
    trigger: str
    status: str
    ran_migrations: bool = False
    break_glass_reason: str | None = None


class BoardSoak(BaseModel):
    """Progress of a release toward the next environment, and what blocks it."""

    release: str
    target_environment: str
    fraction: float = Field(ge=0, le=1)
    elapsed_seconds: int
    remaining_seconds: int
    window_seconds: int
    verdict: str
    blockers: list[str]


class BoardApproval(BaseModel):
    approved_by: str
    approved_at: datetime
    commit: str
    artifact_digest: str
    valid: bool
    #: Why it does not count (the gate's words), when it is void.
    void_reason: str | None = None


class BoardHealthPoint(BaseModel):
    """One bucket of the health sparkline."""

    start: datetime
    samples: int
    ok: int


class BoardIncident(BaseModel):
    id: str
    component: str
    severity: str
    title: str
    opened_at: datetime


class BoardFreeze(BaseModel):
    id: str
    environment: str
    app: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class BoardDeployment(BaseModel):
    service: str
    app: str
    environment: str
    current: BoardRelease | None
    previous: BoardRelease | None
    soak: BoardSoak | None = None
    approvals: list[BoardApproval] = Field(default_factory=list)
    health: list[BoardHealthPoint] = Field(default_factory=list)
    incidents: list[BoardIncident] = Field(default_factory=list)
    freezes: list[BoardFreeze] = Field(default_factory=list)


class ReleaseBoard(BaseModel):
    """The releases page: every deployment, read-only, from the ledger (view ``release_board_v1``)."""

    generated_at: datetime
    deployments: list[BoardDeployment]
