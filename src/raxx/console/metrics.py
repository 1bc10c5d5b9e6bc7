"""The console's event metrics (``raxx.common.metrics``): requests by environment, identity
checks, audit appends. ``pages/metrics.py`` serves them with the state read at scrape time.

The console is one deployment serving every environment: a request's ``environment`` is
the one its URL names (``/{env}/...``, ``/api/{env}/...``) when the registry knows it,
else ``none``; never free text from the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import Scope

from raxx.common import metrics

NO_ENVIRONMENT = "none"


def environment_of(names: frozenset[str]) -> Callable[[Scope], str]:
    """The environment label of a request: its URL's, if the registry has it."""

    def label(scope: Scope) -> str:
        env = scope.get("path_params", {}).get("env")
        return env if env in names else NO_ENVIRONMENT

    return label


class IdentityCounts:
    """Counts one backend's identity checks; the mismatch counter also feeds the alert rules."""

    def __init__(self, environment: str) -> None:
        self._environment = environment
        self._results: dict[str, Any] = {}
        self.mismatches = metrics.IDENTITY_MISMATCHES.labels(environment)

    def checked(self, result: str) -> None:
        child = self._results.get(result)
        if child is None:  # bounded: the states of IdentityStatus
            child = self._results[result] = metrics.IDENTITY_CHECKS.labels(self._environment, result)
        child.inc()
        if result == "misconfigured":
            self.mismatches.inc()


def audit_appended(environment: str | None, phase: str, ok: bool, seconds: float) -> None:
    metrics.AUDIT_APPEND.labels(environment or NO_ENVIRONMENT, phase, "ok" if ok else "failed").observe(seconds)
