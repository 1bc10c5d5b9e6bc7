"""Structured log fields every Raptor event carries: environment, request id, actor."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from raxx.common.asgi import request_id_var
from raxx.common.logging import log_event

environment_var: ContextVar[str | None] = ContextVar("raptor_environment", default=None)
actor_var: ContextVar[str | None] = ContextVar("raptor_actor", default=None)
token_var: ContextVar[str | None] = ContextVar("raptor_token_id", default=None)


def raptor_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """``log_event`` plus who and where: set per request by the authentication dependency."""
    log_event(
        logger,
        event,
        level=level,
        environment=environment_var.get(),
        request_id=request_id_var.get(),
        actor=actor_var.get(),
        token_id=token_var.get(),
        **fields,
    )


def environment_warning(logger: logging.Logger, event: str, environment: str, **fields: Any) -> None:
    """A warning that names this deployment's environment and no caller: the process's own
    trouble (the broker would not start, a maintenance pass failed) or a token refused as
    another environment's."""
    log_event(logger, event, level=logging.WARNING, environment=environment, **fields)
