"""Helpers shared by the per-deployable settings classes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, SecretStr, ValidationError
from pydantic.fields import FieldInfo
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


# -- the configuration reference (docs/configuration.md) ------------------------------------


@dataclass(frozen=True)
class Variable:
    """One environment variable a settings class reads, as docs/configuration.md lists it."""

    name: str
    default: str
    meaning: str

    def row(self) -> str:
        meaning = self.meaning.replace("|", "\\|")  # a pipe would end the table's cell
        return f"| `{self.name}` | {self.default} | {meaning} |"


def variables(cls: type[BaseSettings]) -> list[Variable]:
    """Every variable ``cls`` reads, in declaration order. A nested settings class (the
    connection budget every app holds) is listed as its own class, not inside each app's."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    found = []
    for name, info in cls.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings):
            continue
        names = _names(prefix, name, info)
        meaning = info.description or ""
        if len(names) > 1:
            meaning += f" (also read as {', '.join(f'`{n}`' for n in names[1:])})"
        found.append(Variable(names[0], _default_text(info), meaning))
    return found


def _names(prefix: str, name: str, info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):  # names differing only in case are one variable
        return list(dict.fromkeys(str(choice).upper() for choice in alias.choices))
    if isinstance(alias, str):
        return [alias.upper()]
    return [f"{prefix}{name.upper()}"]


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        return "computed"  # the meaning says how
    return _value_text(info.default)


def _value_text(value: Any) -> str:
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, Path) and value.is_absolute():
        package = Path(str(files("raxx")))
        if value.is_relative_to(package):
            return f"`{value.relative_to(package).as_posix()}` (in the package)"
    if isinstance(value, int | Decimal | str | Path):
        return f"`{value}`" if str(value) else '`""`'
    return f"`{value!r}`"
