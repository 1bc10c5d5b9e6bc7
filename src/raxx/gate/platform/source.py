"""The source tarball a Heroku build is made from, packed reproducibly from git.

``git archive`` of one commit, gzipped with a zero timestamp, so the same commit packs to
the same bytes: its sha256 is the artifact digest CI passes to ``raxx gate deploy
--artifact`` (``raxx heroku source-digest``) and the checksum Heroku verifies the upload
against (``source_blob.checksum``).
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from raxx.common.cliparams import COMMIT_RE
from raxx.common.errors import ConfigError


@dataclass(frozen=True)
class SourceTarball:
    commit: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def digest(self) -> str:
        """The artifact digest the gate's ledger records (``sha256:<hex>``)."""
        return f"sha256:{self.sha256}"

    @property
    def heroku_checksum(self) -> str:
        """The form Heroku's ``source_blob.checksum`` takes."""
        return f"SHA256:{self.sha256}"


class GitSource:
    """Packs commits of the git checkout at ``repo``."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    def resolve(self, commit: str) -> str:
        """The full commit id for ``commit``, or a refusal naming it."""
        if not COMMIT_RE.match(commit):
            raise ConfigError(f"{commit!r} is not a commit id (hex, 7 to 40 characters)")
        out = self._git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
        if out is None:
            raise ConfigError(f"commit {commit} is not in the checkout at {self.repo} (fetch it first)")
        return out.decode().strip()

    def pack(self, commit: str) -> SourceTarball:
        full = self.resolve(commit)
        tar = self._git("archive", "--format=tar", full)
        if tar is None:
            raise ConfigError(f"git archive {full} failed in {self.repo}")
        return SourceTarball(commit=full, data=gzip.compress(tar, compresslevel=9, mtime=0))

    def _git(self, *args: str) -> bytes | None:
        try:
            done = subprocess.run(["git", *args], cwd=self.repo, capture_output=True, timeout=120, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None
