"""The checklist that retires an old deployment (``console-staging``), proven from data.

Items: the feature's release has run in prod long enough; no critical incident on its
component; prod health over the window; audit evidence that the feature is used; a
live smoke check; manual attestations for what no probe can see.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raxx.gate.audit_evidence import AuditEvidence
from raxx.gate.checks.smoke import SmokeContext, check_console_proxy
from raxx.gate.ledger.repository import AttestationRepository, IncidentRepository, ReleaseRepository, SampleRepository
from raxx.gate.policy import RetirementPolicy, format_duration
from raxx.gate.verdict import CheckResult, failed, passed, unknown


async def evaluate_retirement(
    session: AsyncSession, rule: RetirementPolicy, *, now: datetime, audit: AuditEvidence | None, smoke: SmokeContext
) -> list[CheckResult]:
    window = timedelta(days=rule.min_days_in_prod)
    since = now - window
    return [
        await _feature_in_prod(session, rule, now, window),
        await _no_critical_incident(session, rule, since, now),
        await _health(session, rule, since, now),
        await _switch_events(audit, rule, since, now),
        await _smoke(smoke, rule),
        *await _attestations(session, rule),
    ]


async def _feature_in_prod(
    session: AsyncSession, rule: RetirementPolicy, now: datetime, window: timedelta
) -> CheckResult:
    name = "feature_in_prod"
    first = await ReleaseRepository(session).feature_since(rule.app, rule.environment, rule.feature)
    service = f"{rule.app}-{rule.environment}"
    if first is None:
        return failed(name, f"the running {service} release does not carry {rule.feature!r}")
    ran_for = now - first.deployed_at
    evidence = {
        "since_release": first.release_id,
        "since": first.deployed_at.isoformat(),
        "days": round(ran_for / timedelta(days=1), 2),
    }
    started = f"{first.deployed_at:%Y-%m-%d %H:%M}"
    text = f"{rule.feature} in {service} since {first.release_id} ({started}), {format_duration(ran_for)}"
    if ran_for < window:
        return failed(
            name, f"{text}; needs {rule.min_days_in_prod}d ({format_duration(window - ran_for)} left)", **evidence
        )
    return passed(name, text, **evidence)


async def _no_critical_incident(
    session: AsyncSession, rule: RetirementPolicy, since: datetime, now: datetime
) -> CheckResult:
    name = "no_critical_incident"
    incidents = await IncidentRepository(session).affecting(
        rule.app, since, now, severity="critical", component=rule.incident_component
    )
    if incidents:
        first = incidents[0]
        return failed(
            name,
            f"critical incident on {rule.incident_component}: {first.title} (opened {first.opened_at:%Y-%m-%d %H:%M})",
            incidents=[str(i.id) for i in incidents],
        )
    return passed(name, f"no critical incident on {rule.incident_component} in {rule.min_days_in_prod}d")


async def _health(session: AsyncSession, rule: RetirementPolicy, since: datetime, now: datetime) -> CheckResult:
    name = "prod_health"
    service = f"{rule.app}-{rule.environment}"
    stats = await SampleRepository(session).stats(service, since, now)
    evidence = {"samples": stats.count, "ok": stats.ok, "min_samples": rule.min_health_samples}
    if stats.count == 0:
        return unknown(name, f"no health sample of {service} in the window (is the monitor running?)", **evidence)
    rate = stats.ok / stats.count
    text = f"{rate:.3%} of {stats.count} samples healthy (needs {rule.min_health_success_rate:.1%})"
    if stats.count < rule.min_health_samples:
        return failed(name, f"{stats.count} samples, {rule.min_health_samples} needed; {text}", **evidence)
    return (passed if rate >= rule.min_health_success_rate else failed)(
        name, text, success_rate=round(rate, 5), **evidence
    )


async def _switch_events(
    audit: AuditEvidence | None, rule: RetirementPolicy, since: datetime, now: datetime
) -> CheckResult:
    name = "audit_switch_events"
    if audit is None:
        return unknown(name, "no audit database configured (GATE_AUDIT_DATABASE_URL)")
    try:
        evidence = await audit.switch_events(since, now)
    except Exception as exc:  # the audit database is another system: any failure is "cannot prove"
        return unknown(name, f"audit trail unreadable: {type(exc).__name__}: {str(exc)[:160]}")
    details = {"count": evidence.count, "environments": evidence.environments, "outcomes": evidence.outcomes}
    if evidence.count < rule.min_switch_events:
        return failed(
            name,
            f"{evidence.count} env.switch events in {rule.min_days_in_prod}d, {rule.min_switch_events} needed",
            **details,
        )
    envs = ", ".join(f"{k}: {v}" for k, v in sorted(evidence.environments.items()))
    return passed(name, f"{evidence.count} env.switch events ({envs})", **details)


async def _smoke(smoke: SmokeContext, rule: RetirementPolicy) -> CheckResult:
    result = await check_console_proxy(smoke, rule.smoke_environment)
    return type(result)("smoke_" + rule.smoke_environment, result.status, result.reason, result.evidence)


async def _attestations(session: AsyncSession, rule: RetirementPolicy) -> list[CheckResult]:
    found = await AttestationRepository(session).latest(rule.subject)
    results = []
    for item in rule.attestations:
        record = found.get(item)
        if record is None:
            results.append(
                failed(f"attest:{item}", f"not attested (raxx gate attest {rule.subject} {item} --note ...)")
            )
        else:
            note = f": {record.note}" if record.note else ""
            results.append(
                passed(
                    f"attest:{item}",
                    f"{record.attested_by} at {record.attested_at:%Y-%m-%d %H:%M}{note}",
                    by=record.attested_by,
                    at=record.attested_at.isoformat(),
                )
            )
    return results
