"""Text and integers from outside that PostgreSQL can store, and one-line text fit to show an operator.

PostgreSQL takes neither of two things Python strings can hold: NUL (U+0000) in ``text``,
``varchar`` or ``jsonb`` (psycopg refuses it, ``jsonb`` refuses the ``\\u0000`` escape), and
lone UTF-16 surrogates (U+D800..U+DFFF: ``json.loads`` makes them from ``"\\udc00"``, the
command line from bytes that are not UTF-8, and UTF-8 encoding then fails). Each entrance
checks its text here, so a bad value is a field error (a 4xx in the app's error shape) before
anything is written, never a database error.

One-line fields (reasons, names, symbols, filters, confirmations) refuse every C0 control
character (U+0000..U+001F) and DEL (U+007F) too: they are shown to operators on one line, in
pages, logs and the audit trail, where a newline could fake a second line and an escape code
could rewrite a terminal. Likewise the bidirectional embeddings, overrides and isolates
(U+202A..U+202E, U+2066..U+2069), which reorder how the rest of the line reads ("Trojan
Source", CVE-2021-42574); right-to-left scripts need none of them. Where a field collapses
its whitespace first (the halt reason), tabs and newlines have already become spaces.

An integer from outside (a query or path parameter) compared with a ``bigint`` column must fit
one: psycopg sends a larger Python int as ``numeric`` and PostgreSQL refuses the comparison
(``bigint out of range``). ``StorableInt`` bounds it; :func:`is_storable_int` says whether a
lookup by such a number can find anything at all (one that cannot is simply not found).

``StorableText``, ``OneLineText`` and ``StorableInt`` are for pydantic models and FastAPI parameters (a
violation is the app's 422); :func:`text_problem` and :func:`field_problems` are for the
hand-written form parsers and command-line option types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from raxx.common.errors import ConfigError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

UNSTORABLE_MESSAGE = "may not contain NUL characters or lone UTF-16 surrogates"
NOT_ONE_LINE_MESSAGE = (
    "may not contain control characters (such as NUL, tab, newline or a text direction override) "
    "or lone UTF-16 surrogates"
)


def text_problem(value: str, *, one_line: bool, max_length: int | None = None, blank: bool = True) -> str | None:
    """Why ``value`` cannot be taken (a message for its field), or None when it can.

    ``max_length``: the most characters its column holds; ``blank=False``: it must say
    something (not empty, not only whitespace).
    """
    if not blank and not value.strip():
        return "may not be blank"
    if max_length is not None and len(value) > max_length:
        return f"may be at most {max_length} characters long (this one has {len(value)})"
    if one_line:
        return NOT_ONE_LINE_MESSAGE if _NOT_ONE_LINE.search(value) else None
    return UNSTORABLE_MESSAGE if _UNSTORABLE.search(value) else None


def field_problems(fields: Mapping[str, str], *, one_line: tuple[str, ...] = ()) -> dict[str, str]:
    """Field name to message for each value that cannot be taken (``one_line`` names the
    fields held to the one-line rule; every other field only has to be storable)."""
    problems = {}
    for name, value in fields.items():
        problem = text_problem(value, one_line=name in one_line)
        if problem is not None:
            problems[name] = problem
    return problems


def one_line_variable(name: str, value: str | None, *, max_length: int | None = None) -> str | None:
    """An environment variable's value for a one-line field (who acts, a tag), or a
    ``ConfigError`` naming the variable. Such defaults come from the machine (``USER``) or
    the CI runner (``GITHUB_ACTOR``), not from an option the user typed, and reach the ledger
    just the same: a newline or a byte that is not UTF-8 there, a value only of spaces or
    one longer than its column (``max_length``) is a setting to fix."""
    if value and (problem := text_problem(value, one_line=True, max_length=max_length, blank=False)):
        raise ConfigError(f"{name} {problem}")
    return value


def _storable(value: str) -> str:
    if text_problem(value, one_line=False):
        raise ValueError(UNSTORABLE_MESSAGE)
    return value


def _one_line(value: str) -> str:
    if text_problem(value, one_line=True):
        raise ValueError(NOT_ONE_LINE_MESSAGE)
    return value


#: Text PostgreSQL can store: no NUL, no lone surrogate.
StorableText = Annotated[str, AfterValidator(_storable)]
#: Storable text without control characters, for a field shown on one line.
OneLineText = Annotated[str, AfterValidator(_one_line)]

#: PostgreSQL's ``bigint``, the widest integer column.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
#: An integer a ``bigint`` holds: larger ones are the app's 422 naming the field. Narrow it where
#: it is used (``Annotated[StorableInt | None, Query(ge=1)]``).
StorableInt = Annotated[int, Field(ge=BIGINT_MIN, le=BIGINT_MAX)]


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits. ``str.isdigit`` also says yes to a
    superscript two (U+00B2), which ``int`` then refuses (a crash where a 4xx was due), and to a
    fullwidth one (U+FF11), which ``int`` reads as 1: a number from outside is written in ASCII
    digits or it is no number."""
    return text.isascii() and text.isdigit()


def is_storable_int(value: int) -> bool:
    """Whether a ``bigint`` can hold ``value`` (a row keyed by any other number cannot exist)."""
    return BIGINT_MIN <= value <= BIGINT_MAX
