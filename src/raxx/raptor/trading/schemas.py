"""Trading switch wire models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from raxx.common.storable import OneLineText


class HaltRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: One line (``raxx.common.storable``): shown to everyone, in the console and in the 409 of
    #: every order refused while halted.
    reason: OneLineText = Field(
        min_length=1, max_length=500, pattern=r"\S", description="why trading stops; shown to everyone"
    )


class NoFields(BaseModel):
    """The body of an action that takes nothing: none at all, or ``{}``; anything else is refused."""

    model_config = ConfigDict(extra="forbid")


class TradingStateRead(BaseModel):
    halted: bool
    reason: str | None
    changed_at: datetime
    actor: str | None = Field(description="the operator who last halted or resumed")
    token_id: str | None
    request_id: str | None
