"""Verdicts and the exit codes every gate command ends with.

CI branches on these codes, so they are part of the contract: 0 go; 3 blocked (a
condition is proven false); 4 cannot decide (a condition cannot be proven, which also
blocks; also when the ledger cannot be reached, ``raxx.exits``); 5 the deploy failed and
nothing changed; 6 a smoke check failed and the release was rolled back; 7 the rollback
failed too (page a person).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict word, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"


class ExitCode(IntEnum):
    PASS = 0
    BLOCKED = 3
    CANNOT_DECIDE = 4
    DEPLOY_FAILED = 5
    ROLLED_BACK = 6
    ROLLBACK_FAILED = 7


@dataclass(frozen=True)
class CheckResult:
    """One condition: its status and the one line a person reads to know why."""

    name: str
    status: Status
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "reason": self.reason, "evidence": self.evidence}


def passed(name: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Status.PASS, reason, evidence)


def failed(name: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Status.FAIL, reason, evidence)


def unknown(name: str, reason: str, **evidence: Any) -> CheckResult:
    return CheckResult(name, Status.UNKNOWN, reason, evidence)


def exit_code_for(results: Iterable[CheckResult]) -> ExitCode:
    """Blocked when any condition fails; else cannot-decide when any is unproven; else pass."""
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return ExitCode.BLOCKED
    if Status.UNKNOWN in statuses:
        return ExitCode.CANNOT_DECIDE
    return ExitCode.PASS


VERDICT_WORDS = {
    ExitCode.PASS: "pass",
    ExitCode.BLOCKED: "blocked",
    ExitCode.CANNOT_DECIDE: "cannot decide",
    ExitCode.DEPLOY_FAILED: "deploy failed",
    ExitCode.ROLLED_BACK: "rolled back",
    ExitCode.ROLLBACK_FAILED: "rollback failed",
}
