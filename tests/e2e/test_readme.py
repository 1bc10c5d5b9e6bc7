"""The README, run as written: every ``sh`` block, in order, against a fresh ``scripts/up``.

The checkout is mirrored into a temporary directory (symlinks to the tracked top-level
entries, ``.venv``, ``.venvs`` and ``.git``), so ``scripts/up`` and the README's relative paths
(``.raxx/raxx.env``, ``deploy/...``) work as they do in a fresh clone, with a ``.raxx`` of
the test's own. ``scripts/up`` runs as written, on free ports given through
``RAXX_*_PORT`` and on this test's interpreter (``RAXX_PYTHON``: the venv under test);
every later block then runs in one bash session with a fresh environment,
each command checked against its expected exit code.

The README's conventions, which this file is the reader of:

* ``# ... exits N`` in a command's comment: it is expected to end with N (default 0);
* ``<!-- readme-test: DIRECTIVE; REASON -->`` on the line before a block, where DIRECTIVE
  is ``topology`` (the block's first command is the topology: started here, stopped at the
  end, the other commands not run), ``skip`` (not run) or ``env NAME='VALUE'`` (run with
  that variable, e.g. a prompt's answer). Every marker gives its reason.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from raxx.common.pgembed import free_port
from tests.fixtures.database import REPO_ROOT
from tests.fixtures.output import output_dir

pytestmark = pytest.mark.e2e

MARKER = re.compile(
    r"^<!-- readme-test: (?P<directive>topology|skip|env (?P<name>[A-Z_]+)='(?P<value>[^']*)'); (?P<reason>\S.*) -->$"
)
EXPECTED = re.compile(r"#.*\bexits (\d+)\b")
#: Blocks the test does not run (servers that never return): keep this short.
MAX_NOT_RUN = 4
ALL_RAN = "README: all {count} commands ran"


@dataclass
class Command:
    line_no: int
    text: str
    expected: int


@dataclass
class Block:
    line_no: int
    directive: str | None = None
    reason: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)


def parse_readme(text: str) -> list[Block]:
    """Every ``sh`` block with its marker (if any) and its commands (continuations joined)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    current: Block | None = None
    pending = ""
    start = 0
    for number, line in enumerate(lines, start=1):
        if current is None:
            if line.strip() == "```sh":
                current = Block(number)
                marker = MARKER.match(lines[number - 2]) if number >= 2 else None
                if marker:
                    current.directive = marker["directive"].split()[0]
                    current.reason = marker["reason"]
                    if marker["name"]:
                        current.env[marker["name"]] = marker["value"]
            continue
        if line.strip() == "```":
            blocks.append(current)
            current = None
            continue
        start = start if pending else number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            found = EXPECTED.search(command)
            current.commands.append(Command(start, command, int(found.group(1)) if found else 0))
    assert current is None, "README.md: an unterminated sh block"
    return blocks


def test_readme_markers_are_few_and_give_reasons() -> None:
    blocks = parse_readme((REPO_ROOT / "README.md").read_text())
    assert blocks[0].directive == "topology"
    assert blocks[0].commands[0].text.startswith("scripts/up")
    assert [b for b in blocks[1:] if b.directive == "topology"] == []
    not_run = [b for b in blocks if b.directive == "skip"]
    assert len(not_run) <= MAX_NOT_RUN, [b.line_no for b in not_run]
    for block in blocks:
        if block.directive:
            assert len(block.reason or "") > 10, block.line_no
    lines = [m.group(0) for m in re.finditer(r"^<!-- readme-test:.*$", (REPO_ROOT / "README.md").read_text(), re.M)]
    assert all(MARKER.match(line) for line in lines), "a marker this test cannot read"


def test_every_command_in_the_readme_is_in_an_sh_block() -> None:
    """A ```bash block, or a command in a plain one, would escape the test: there are none."""
    text = (REPO_ROOT / "README.md").read_text()
    fences = re.findall(r"^```(\S*)\n(.*?)^```$", text, flags=re.M | re.S)
    assert {info for info, _ in fences} <= {"sh", ""}
    plain = [body for info, body in fences if info == ""]
    assert not [line for body in plain for line in body.splitlines() if re.match(r"\s*(raxx|scripts/)\S*\s", line)]


def test_the_harness_stops_at_the_first_unexpected_exit_code(tmp_path: Path) -> None:
    """The check after each command can fail: a wrong code, in order, named by its line."""
    blocks = parse_readme(
        "<!-- readme-test: env GREETING='hello there'; a variable the block reads -->\n"
        '```sh\ntest "$GREETING" = "hello there"\nfalse   # exits 1 here\n```\n'
        "<!-- readme-test: skip; never run: it would fail -->\n```sh\nexit 9\n```\n"
        '```sh\ntest -z "${GREETING:-}"\ntrue && \\\n  (exit 4)   # exits 5\necho not reached\n```\n'
    )
    script = _script([b for b in blocks if b.directive != "skip"])
    run = subprocess.run(["bash", "-c", script], env={"README_CHECKOUT": str(tmp_path)}, capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip() == "README.md:12: exited 4, expected 5"
    assert "not reached" not in run.stdout
    # A command that ends the session itself would skip the rest: the last line proves all ran.
    quitting = _script(parse_readme("```sh\nexit 0\necho not reached\n```\n"))
    run = subprocess.run(
        ["bash", "-c", quitting], env={"README_CHECKOUT": str(tmp_path)}, capture_output=True, text=True
    )
    assert run.returncode == 0
    assert ALL_RAN.format(count=2) not in run.stdout
    assert ALL_RAN.format(count=1) in _run_script(tmp_path, "```sh\ntrue\n```\n").stdout


def _mirror_checkout(target: Path) -> None:
    """``target`` looks like a fresh clone: the tracked top-level entries, .venv, .venvs and .git."""
    tracked = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    names = {path.split("/", 1)[0] for path in tracked} | {".venv", ".venvs", ".git"}
    target.mkdir()
    for name in sorted(names):
        if (REPO_ROOT / name).exists():
            (target / name).symlink_to(REPO_ROOT / name)


def _fresh_environment(home: Path) -> dict[str, str]:
    """A new login shell's environment: no virtualenv, no RAXX_/GATE_/CONSOLE_/RAPTOR_ settings
    but RAXX_PYTHON, the interpreter of this run, so scripts/up installs nothing new: it uses
    the venv under test (scripts/test runs the suite once per Python version)."""
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(":") if ".venv" not in p]
    home.mkdir()
    python = getattr(sys, "_base_executable", sys.executable)
    return {
        "PATH": ":".join(path),
        "HOME": str(home),
        "USER": "readme",
        "LOGNAME": "readme",
        "LANG": "C.UTF-8",
        "RAXX_PYTHON": python,
    }


def _run_script(checkout: Path, readme: str) -> subprocess.CompletedProcess[str]:
    script = _script(parse_readme(readme))
    return subprocess.run(
        ["bash", "-c", script], env={"README_CHECKOUT": str(checkout)}, capture_output=True, text=True
    )


def _script(blocks: list[Block]) -> str:
    """One bash session: each command as written, then a check of its exit code."""
    out = ['cd "$README_CHECKOUT"']
    for block in blocks:
        out += [f"export {name}={shlex.quote(value)}" for name, value in block.env.items()]
        for command in block.commands:
            where = f"README.md:{command.line_no}"
            out += [
                f"printf '\\n$ %s\\n' {shlex.quote(command.text)}",
                command.text,
                "__rc=$?",
                f'if [ "$__rc" -ne {command.expected} ]; then '
                f'echo "{where}: exited $__rc, expected {command.expected}" >&2; exit 1; fi',
            ]
        out += [f"unset {name}" for name in block.env]
    out.append(f"echo {shlex.quote(ALL_RAN.format(count=sum(len(b.commands) for b in blocks)))}")
    return "\n".join(out) + "\n"


@pytest.mark.timeout(900)
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    blocks = parse_readme((REPO_ROOT / "README.md").read_text())
    checkout = tmp_path / "raxx"
    _mirror_checkout(checkout)
    env = _fresh_environment(tmp_path / "home")
    ports = {"RAXX_CONSOLE_PORT": free_port(), "RAXX_STAGING_PORT": free_port(), "RAXX_PROD_PORT": free_port()}
    log_dir = output_dir()
    topology_log = log_dir / "readme-topology.log"
    up = blocks[0].commands[0].text
    with topology_log.open("w") as out:
        topology = subprocess.Popen(
            ["bash", "-c", up],
            cwd=checkout,
            env={**env, **{k: str(v) for k, v in ports.items()}},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: _stop signals scripts/up and whatever it became
        )
    try:
        _wait_until_up(topology, topology_log)
        assert (checkout / ".raxx" / "raxx.env").stat().st_mode & 0o077 == 0
        runnable = [b for b in blocks if b.directive in (None, "env")]
        run = subprocess.run(
            ["bash", "-c", _script(runnable)],
            env={**env, "README_CHECKOUT": str(checkout)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        (log_dir / "readme-commands.log").write_text(run.stdout + run.stderr)
        assert run.returncode == 0, f"{run.stderr.strip().splitlines()[-1:]}\n...{run.stdout[-3000:]}"
        ran = ALL_RAN.format(count=sum(len(b.commands) for b in runnable))
        assert run.stdout.strip().endswith(ran), run.stdout[-3000:]
    finally:
        _stop(topology)
    assert topology.returncode == 0, topology_log.read_text()[-2000:]


def _wait_until_up(topology: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if "Ctrl-C stops everything" in log.read_text():
            return
        if topology.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"scripts/up did not come up:\n{log.read_text()[-3000:]}")


def _stop(topology: subprocess.Popen[bytes]) -> None:
    if topology.poll() is not None:
        return
    # SIGTERM stops raxx up as Ctrl-C does; SIGINT is ignored by a job a non-interactive shell
    # started in the background, as CI may start this test.
    os.killpg(topology.pid, signal.SIGTERM)
    try:
        topology.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(topology.pid, signal.SIGKILL)
        topology.wait(timeout=30)
