"""Every ``raxx`` command the docs name is a command ``raxx`` has, with options it takes.

The runbook, the deploy guide and the architecture notes are read when something is wrong;
a command renamed in the CLI and not in them sends the reader to ``No such command`` at the
worst time (``raxx gate monitor``, named for the request runner, was ``raxx monitor``). The
README's commands are also run as written (``tests/e2e/test_readme.py``); this test reads
the rest: every ``raxx ...`` in inline code and code blocks of README.md and docs/, and in
the ``raxx ...`` literals of the source's docstrings and comments. Each is walked through
the click tree: every word in a command's place must name a subcommand, every ``--option``
must be one the commands on the way take. Arguments are not checked (the docs write
placeholders: ``NAME``, ``<sha>``), nor anything after ``...``, a pipe or a placeholder
command (``raxx --debug COMMAND``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from raxx.cli import _register_groups, cli

ROOT = Path(__file__).resolve().parents[1]
#: ``raxx ...`` (or ``.venv/bin/raxx ...``) as inline code: one backtick in Markdown, two in reST.
INLINE = re.compile(r"``?((?:[\w./-]*/)?raxx (?:[^`\n])*)``?")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
COMMAND_LINE = re.compile(r"(?:[\w./-]*/)?raxx\s")
#: Where a shell line stops being this command.
STOP = {"|", "||", "&&", ";", ">", ">>", "2>&1", "<"}


def mentions_in(path: Path) -> Iterator[str]:
    text = path.read_text(encoding="utf-8")
    yield from (m.group(1) for m in INLINE.finditer(text))
    if path.suffix == ".md":
        for block in FENCE.finditer(text):
            for line in block.group(1).splitlines():
                line = line.strip().removeprefix("$ ")
                if COMMAND_LINE.match(line):
                    yield line


def mentions() -> Iterator[tuple[str, str]]:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    sources = sorted((ROOT / "src" / "raxx").rglob("*.py"))
    for path in [*documents, *sources]:
        for line in mentions_in(path):
            yield str(path.relative_to(ROOT)), line


def _words(command_line: str) -> list[str]:
    try:
        words = shlex.split(command_line, comments=True)  # a code block's "# why" is not the command
    except ValueError:  # an unbalanced quote in prose: the words still say which command
        words = command_line.split()
    return words[1:]  # "raxx" itself


def _options(chain: list[click.Command]) -> set[str]:
    names = {"-h", "--help"}
    for command in chain:
        for param in command.params:
            names.update(param.opts, param.secondary_opts)
    return names


def problems(command_line: str) -> list[str]:
    """What in ``command_line`` the CLI does not have (empty: the command is real)."""
    chain: list[click.Command] = [cli]
    found: list[str] = []
    for word in _words(command_line):
        if word in STOP or word.startswith("|") or word == "...":
            break
        word = word.strip("[]")
        where = " ".join(["raxx", *(c.name or "" for c in chain[1:])])
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            if option not in _options(chain):
                found.append(f"{where} takes no option {option}")
            continue
        current = chain[-1]
        if not isinstance(current, click.Group):
            continue  # an argument
        if not word or word.isupper() or word.startswith("<"):
            break  # a placeholder command
        alternatives = word.split("|")  # "raxx audit verify|export" names several
        commands = {name: current.get_command(click.Context(current), name) for name in alternatives}
        found += [f"{where} has no command {name!r}" for name, command in commands.items() if command is None]
        subcommand = commands[alternatives[0]]
        if len(alternatives) > 1 or subcommand is None:
            break
        chain.append(subcommand)
    return found


@pytest.fixture(scope="module", autouse=True)
def every_group_loaded() -> None:
    _register_groups()


def test_the_docs_name_real_commands_and_options() -> None:
    named = list(mentions())
    assert len(named) > 150, f"only {len(named)} commands found: the patterns are wrong"
    wrong = [f"{where}: {line}: {'; '.join(found)}" for where, line in named if (found := problems(line))]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("raxx gate approve --app raptor --env prod --release <sha> --by <name>", []),
        ("raxx gate board [--json]", []),
        ("raxx audit verify|export|checkpoint", []),
        ("raxx --debug COMMAND", []),
        ('raxx gate attest console-staging ITEM --note "..." --by ACTOR', []),
        ("raxx audit export | head --lines 3", []),
        ("raxx gate monitor", ["raxx gate has no command 'monitor'"]),
        ("raxx audit verify|exprot", ["raxx audit has no command 'exprot'"]),
        ("raxx gate board --jsn", ["raxx gate board takes no option --jsn"]),
        ("raxx gate rollback --app=raptor --too x", ["raxx gate rollback takes no option --too"]),
    ],
)
def test_a_command_line_is_walked_through_the_click_tree(line: str, expected: list[str]) -> None:
    assert problems(line) == expected
