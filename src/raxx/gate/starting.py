"""When a deployment is *starting*: a health probe that fails then is recorded as ``starting``.

A deployment is **starting** at the moment ``t`` of a probe when, less than the start grace
(``GATE_MONITOR_START_GRACE``, 60 s: what Heroku gives a web process to bind its port)
before ``t``:

1. its process started, as it says itself (``started_at`` in its identity; so only when
   the identity answered: a process that is up but not ready yet);
2. ``raxx up`` started it on purpose, at start-up or for a deploy (``started_at`` in the
   topology file; a restart after a crash does not count: a crash is a failure);
3. a deploy to it finished (the ledger record's ``finished_at``: the release became current);

or when a deploy to it is in progress (ledger status ``deploying``) that began less than
``GATE_DEPLOY_TIMEOUT`` plus the grace ago (a deploy whose process crashed cannot excuse
failures for ever). Every other unhealthy probe is a failure, and so is one whose identity
names another environment (the monitor never asks: a misconfiguration is not a start). A
starting sample counts neither as a success nor as a failure: soak, retirement and the
board leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from raxx.gate.ledger.models import Release

DEFAULT_START_GRACE = 60.0


@dataclass(frozen=True)
class StartEvidence:
    """What is known about a deployment's latest start when one of its probes failed."""

    process_started_at: datetime | None = None
    platform_started_at: datetime | None = None
    last_deploy: Release | None = None


def starting_reason(
    evidence: StartEvidence, at: datetime, *, grace: timedelta, deploy_timeout: timedelta
) -> str | None:
    """Why the deployment counts as starting at ``at`` (a phrase for the sample's reason), or None."""

    def recent(moment: datetime | None) -> bool:
        return moment is not None and at - moment < grace

    if recent(evidence.process_started_at):
        return f"its process started at {evidence.process_started_at:%H:%M:%S}"
    if recent(evidence.platform_started_at):
        return f"raxx up started it at {evidence.platform_started_at:%H:%M:%S}"
    deploy = evidence.last_deploy
    if deploy is None:
        return None
    if deploy.status == "deploying" and at - deploy.deployed_at < deploy_timeout + grace:
        return f"the deploy of {deploy.release_id} is in progress"
    if deploy.status != "deploying" and recent(deploy.finished_at):
        return f"the deploy of {deploy.release_id} finished at {deploy.finished_at:%H:%M:%S}"
    return None
