"""Helpers shared by the per-deployable settings classes."""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from raxx.common.dbbudget import BudgetSettings, one_off_pools
from raxx.common.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development", "placeholder"}


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build settings or raise one ``ConfigError`` line naming the offending setting."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(cls, exc)) from None


def load_budget() -> BudgetSettings:
    """The connection budget from the environment (``RAXX_*``, ``WEB_CONCURRENCY``), refused
    by the variable's own name; every app's settings hold one (``raxx.common.dbbudget``)."""
    return load_settings(BudgetSettings)


def one_off_pool(process: str, app: str = "console") -> int:
    """The pool of a command run beside the web dynos (``heroku run raxx ...``): the budget's
    one-off reservation, stated in the log; the app's formation is checked on the way."""
    from raxx.common.logging import log_pools

    pools = one_off_pools(load_budget(), app, process)
    log_pools(logging.getLogger("raxx.cli"), pools)
    return pools["pool"]


def describe_validation_error(cls: type[BaseSettings], exc: ValidationError) -> str:
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "?"
    # A field read under another name (``WEB_CONCURRENCY``) is reported under that name.
    name = f"{prefix}{field.upper()}" if field in cls.model_fields else field.upper()
    if first["type"] == "missing":
        return f"{name} is required but not set"
    return f"{name} is invalid: {first['msg']}"


def refuse_placeholder(name: str, value: str, *, development: bool) -> str:
    if not development and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigError(f"{name} is a placeholder; set a real secret outside development")
    return value
