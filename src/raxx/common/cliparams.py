"""Option types every area's commands share: ports, durations, environment names, text,
who acts, commit ids.

A bad value is a usage error (exit 2) naming the option and what it accepts, before the
command does anything. Light on purpose: ``raxx --help`` imports every command module.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import click

from raxx.common.actors import ACTOR_LENGTH, clean_actor, name_problem
from raxx.common.durations import parse_duration

#: A git commit id: 7 to 40 lowercase hex characters (abbreviated or full).
COMMIT_RE = re.compile(r"^[0-9a-f]{7,40}$")

#: A TCP port a server can listen on.
PORT = click.IntRange(1, 65535)


class Duration(click.ParamType[timedelta]):
    """``30s``, ``10m``, ``24h``, ``7d``, ``1h30m``: converted to a ``timedelta``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class EnvironmentName(click.ParamType[str]):
    """An environment the registry names (``CONSOLE_ENVIRONMENTS_FILE``, else the packaged one).

    ``own_var`` names a variable holding the process's own environment (``RAPTOR_ENVIRONMENT``
    on a Raptor dyno, where no console registry is deployed): that value is accepted as well.
    """

    name = "environment"

    def __init__(self, *, own_var: str | None = None, also: tuple[str, ...] = ()) -> None:
        self.own_var = own_var
        #: Other words the option takes (the audit export's ``-``: events with no environment).
        self.also = also

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        import os

        from raxx.common.environments import EnvironmentRegistry, registry_file

        if value in self.also or (self.own_var and value == os.environ.get(self.own_var)):
            return str(value)
        path = registry_file()
        names = list(EnvironmentRegistry.from_toml(path))  # an unreadable registry: ConfigError, exit 78
        if value not in names:
            self.fail(f"{value!r} is not in the environment registry {path} (one of: {', '.join(names)})", param, ctx)
        return str(value)


class Text(click.ParamType[str]):
    """Text a command stores (``raxx.common.storable``): never a lone surrogate, which is what
    arguments that are not UTF-8 become; ``one_line`` refuses control characters too, for
    names, reasons and titles shown on one line; ``max_length`` is the width of the column it
    goes to; ``blank=False`` refuses a value that is empty or only whitespace."""

    name = "text"

    def __init__(self, *, one_line: bool, max_length: int | None = None, blank: bool = True) -> None:
        self.one_line = one_line
        self.max_length = max_length
        self.blank = blank

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from raxx.common.storable import text_problem  # here: it imports pydantic

        text = str(value)
        if problem := text_problem(text, one_line=self.one_line, max_length=self.max_length, blank=self.blank):
            self.fail(f"{_shown(text)} {problem}", param, ctx)
        return text


class ActorName(Text):
    """Who acts (``--by``): one line, not blank, at most ``ACTOR_LENGTH`` characters; recorded
    trimmed (``raxx.common.actors``, which also says when two names are one person)."""

    name = "name"

    def __init__(self, *, max_length: int = ACTOR_LENGTH) -> None:
        super().__init__(one_line=True, max_length=max_length, blank=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = super().convert(value, param, ctx)
        if problem := name_problem(text):
            self.fail(f"{_shown(text)} {problem}", param, ctx)
        return clean_actor(text)


class CommitId(click.ParamType[str]):
    """A git commit id (``COMMIT_RE``): 7 to 40 lowercase hex characters."""

    name = "sha"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if not COMMIT_RE.match(text):
            self.fail(f"{_shown(text)} is not a commit id (hex, 7 to 40 characters)", param, ctx)
        return text


def _shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut short when long (the limit is in the message)."""
    return ascii(text) if len(text) <= limit else f"{text[:limit]!a}..."


DURATION = Duration()
#: Free text that may span lines (a note, a comment).
TEXT = Text(one_line=False)
#: One line of text (a name, a reason, a title, an identifier).
LINE = Text(one_line=True)
#: One line that must say something: a title, a reason.
REQUIRED_LINE = Text(one_line=True, blank=False)
#: A person's name (``--by``).
ACTOR = ActorName()
#: A git commit id (``--commit``).
COMMIT = CommitId()
ENVIRONMENT = EnvironmentName()
