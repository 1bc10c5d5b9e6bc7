"""Which release a process runs: ``RAXX_RELEASE``, else Heroku's slug commit, else git.

The release id is the commit, the same on every app that runs the slug: a pipeline
promotion copies staging's slug to prod, and the gate checks that prod's identity then
names the commit that soaked. ``HEROKU_RELEASE_VERSION`` (``v42``) counts releases per
app, so it differs between staging and prod; it is only the last resort.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache

#: What ``raxx release`` prints, so a platform adapter reading the release phase's output
#: can tell whether a release changed the schema (a rollback then cannot undo it).
MIGRATIONS_APPLIED_MARKER = "raxx release: migrations applied"
NO_MIGRATIONS_MARKER = "raxx release: no migration applied"


@lru_cache(maxsize=1)
def current_release() -> str:
    for var in ("RAXX_RELEASE", "HEROKU_SLUG_COMMIT", "SOURCE_VERSION", "HEROKU_RELEASE_VERSION"):
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
