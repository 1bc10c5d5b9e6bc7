"""Which Python scripts/install uses (``scripts/find-python``): the newest supported CPython on
PATH or in pyenv, RAXX_PYTHON to force one, one line naming the accepted versions otherwise,
and a venv per version that is rebuilt when another interpreter made it.

The interpreters are fakes on a PATH of their own (with only the tools the scripts use): each
answers the scripts' probe with its version and path, makes a fake venv on ``-m venv`` whose
``pip`` only records its calls, so the real scripts run end to end in milliseconds."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("bash", "cat", "cut", "dirname", "grep", "ln", "ls", "mkdir", "readlink", "rm", "sha256sum", "sort")
FAKES_USE = ("chmod",)
ACCEPTED = "Raxx runs on CPython 3.11, 3.12 or 3.13"

# A fake CPython: the probe (any -c naming sys.implementation) gets "VERSION PATH"; -m venv
# makes DIR/bin/python, a fake whose pip appends to DIR/pip.log and whose `import raxx`
# works once pip installed something.
FAKE_PYTHON = """#!/bin/bash
version={version}
if [ "$1" = -c ] && [[ "$2" == *sys.implementation* ]]; then echo "$version $0"; exit 0; fi
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<EOF
#!/bin/bash
venv="$3"
if [ "\\$1" = -m ] && [ "\\$2" = pip ]; then echo "\\$*" >> "\\$venv/pip.log"; exit 0; fi
if [ "\\$1" = -c ]; then [ -f "\\$venv/pip.log" ]; exit; fi
exit 3
EOF
  chmod +x "$3/bin/python"
  echo "$version" > "$3/made-by-fake"
  exit 0
fi
exit 3
"""


def fake_python(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_PYTHON.format(version=version))
    path.chmod(0o755)
    return path


def broken_shim(path: Path) -> Path:
    """Like a pyenv shim for a version pyenv has not activated: on PATH, but fails."""
    path.write_text(f"#!/bin/bash\necho 'pyenv: {path.name}: command not found' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The two scripts and the files whose hash decides a reinstall, in a directory of their own."""
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    for name in ("install", "find-python"):
        shutil.copy2(REPO / "scripts" / name, root / "scripts" / name)
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copy2(REPO / name, root / name)
    return root


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH entry with only the tools the scripts (and the fakes) need: no python of this machine."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in TOOLS + FAKES_USE:
        found = shutil.which(tool, path="/usr/bin:/bin")
        assert found, tool
        (path / tool).symlink_to(found)
    return path


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(checkout: Path, bin_dir: Path) -> Run:
    def run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(checkout / "scripts" / script), *args],
            env={"PATH": str(bin_dir), "HOME": str(checkout), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


def test_the_newest_supported_python_on_path_wins(run: Run, bin_dir: Path) -> None:
    fake_python(bin_dir / "python3.11", "3.11.9")
    fake_python(bin_dir / "python3.12", "3.12.7")
    fake_python(bin_dir / "python3", "3.11.9")
    assert run("find-python").stdout == f"3.12.7 {bin_dir / 'python3.12'}\n"
    fake_python(bin_dir / "python3.13", "3.13.1")
    assert run("find-python").stdout == f"3.13.1 {bin_dir / 'python3.13'}\n"
    assert run("find-python", "3.11").stdout == f"3.11.9 {bin_dir / 'python3.11'}\n"


def test_a_shim_that_fails_is_passed_over_for_pyenvs_own_interpreters(run: Run, bin_dir: Path, tmp_path: Path) -> None:
    fake_python(bin_dir / "python3.11", "3.11.9")
    broken_shim(bin_dir / "python3.13")
    root = tmp_path / "pyenv-root"
    (bin_dir / "pyenv").write_text(f'#!/bin/bash\n[ "$1" = root ] && echo {root}\n')
    (bin_dir / "pyenv").chmod(0o755)
    for name in ("3.13.0", "3.13.2", "3.13.10rc1", "3.13.3t", "3.12.1"):
        fake_python(root / "versions" / name / "bin" / f"python{name[:4]}", name)
    found = run("find-python")
    assert found.stdout == f"3.13.2 {root / 'versions/3.13.2/bin/python3.13'}\n", found.stderr
    assert run("find-python", "3.12").stdout == f"3.12.1 {root / 'versions/3.12.1/bin/python3.12'}\n"
    # a version pyenv does not have: still python3 on PATH after pyenv's (none fit here)
    fake_python(bin_dir / "python3", "3.13.9")
    assert run("find-python").stdout == f"3.13.2 {root / 'versions/3.13.2/bin/python3.13'}\n"
    (root / "versions" / "3.13.2").rename(root / "versions" / "3.13.2t")
    (root / "versions" / "3.13.0").rename(root / "versions" / "3.13.0rc2")
    assert run("find-python").stdout == f"3.13.9 {bin_dir / 'python3'}\n"


def test_python3_counts_when_it_is_a_supported_version(run: Run, bin_dir: Path) -> None:
    fake_python(bin_dir / "python3", "3.12.3")
    assert run("find-python").stdout == f"3.12.3 {bin_dir / 'python3'}\n"


def test_no_supported_python_is_one_line_naming_the_accepted_versions(run: Run, bin_dir: Path) -> None:
    fake_python(bin_dir / "python3", "3.10.12")
    fake_python(bin_dir / "python3.10", "3.10.12")
    found = run("find-python")
    assert found.returncode == 1
    assert found.stdout == ""
    assert found.stderr.count("\n") == 1
    assert ACCEPTED in found.stderr
    assert "python3 on PATH is 3.10.12" in found.stderr
    installed = run("install")
    assert installed.returncode == 1
    assert installed.stderr == found.stderr
    assert not (bin_dir.parent / "clone" / ".venv").exists()


def test_raxx_python_forces_one_and_is_refused_when_unsupported(run: Run, bin_dir: Path, tmp_path: Path) -> None:
    fake_python(bin_dir / "python3.13", "3.13.1")
    fake_python(bin_dir / "python3.11", "3.11.9")
    old = fake_python(tmp_path / "old" / "python3.10", "3.10.12")
    assert run("find-python", RAXX_PYTHON="python3.11").stdout == f"3.11.9 {bin_dir / 'python3.11'}\n"
    assert run("find-python", RAXX_PYTHON="3.11").stdout == f"3.11.9 {bin_dir / 'python3.11'}\n"
    for value, reason in (
        (str(old), f"RAXX_PYTHON={old} is Python 3.10.12; {ACCEPTED}"),
        ("3.12", f"RAXX_PYTHON=3.12: no such interpreter found; {ACCEPTED}"),
        ("python3.9", f"RAXX_PYTHON=python3.9 is not a CPython that runs here; {ACCEPTED}"),
    ):
        refused = run("find-python", RAXX_PYTHON=value)
        assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", f"raxx: {reason}\n")


def test_install_makes_a_venv_per_version_and_links_the_chosen_one(run: Run, bin_dir: Path, checkout: Path) -> None:
    fake_python(bin_dir / "python3.13", "3.13.1")
    fake_python(bin_dir / "python3.11", "3.11.9")
    first = run("install")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"==> Python 3.13.1 ({bin_dir / 'python3.13'}): .venvs/3.13"
    assert (checkout / ".venv").readlink() == Path(".venvs/3.13")
    assert len((checkout / ".venvs/3.13/pip.log").read_text().splitlines()) == 2  # pip itself, then raxx

    again = run("install")
    assert again.stdout == f"==> Python 3.13.1 ({bin_dir / 'python3.13'}): .venvs/3.13\n"
    assert len((checkout / ".venvs/3.13/pip.log").read_text().splitlines()) == 2  # a no-op

    forced = run("install", RAXX_PYTHON="python3.11")
    assert forced.returncode == 0, forced.stderr
    assert (checkout / ".venv").readlink() == Path(".venvs/3.11")
    assert (checkout / ".venvs/3.13/pip.log").exists()  # the other version's venv is kept

    only = run("install", "--no-link")
    assert only.returncode == 0
    assert (checkout / ".venv").readlink() == Path(".venvs/3.11")


def test_a_venv_made_by_another_interpreter_is_rebuilt(run: Run, bin_dir: Path, checkout: Path, tmp_path: Path) -> None:
    fake_python(bin_dir / "python3.13", "3.13.0")
    assert run("install").returncode == 0
    (bin_dir / "python3.13").unlink()
    newer = fake_python(tmp_path / "elsewhere" / "python3.13", "3.13.1")
    rebuilt = run("install", RAXX_PYTHON=str(newer))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f".venvs/3.13 was made by 3.13.0 {bin_dir / 'python3.13'}; rebuilding it" in rebuilt.stdout
    assert (checkout / ".venvs/3.13/made-by-fake").read_text() == "3.13.1\n"
    assert len((checkout / ".venvs/3.13/pip.log").read_text().splitlines()) == 2  # installed afresh


def test_an_old_venv_directory_is_replaced_by_the_link(run: Run, bin_dir: Path, checkout: Path) -> None:
    fake_python(bin_dir / "python3.12", "3.12.7")
    (checkout / ".venv" / "bin").mkdir(parents=True)
    done = run("install")
    assert done.returncode == 0, done.stderr
    assert "the old .venv directory is removed" in done.stdout
    assert (checkout / ".venv").readlink() == Path(".venvs/3.12")
