"""Which release a process runs: ``RAXX_RELEASE``, else Heroku's slug commit, else git."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache


@lru_cache(maxsize=1)
def current_release() -> str:
    for var in ("RAXX_RELEASE", "HEROKU_RELEASE_VERSION", "HEROKU_SLUG_COMMIT", "SOURCE_VERSION"):
        value = os.environ.get(var)
        if value:
            return value
    return git_commit() or "dev"


def git_commit(short: bool = True) -> str | None:
    args = ["git", "rev-parse", "--short=12" if short else "--verify", "HEAD"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
