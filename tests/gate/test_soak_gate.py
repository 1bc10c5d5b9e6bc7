"""The soak rule and the whole gate, on a frozen clock: days of soak in milliseconds."""

from __future__ import annotations

from datetime import timedelta

from raxx.common.clock import FrozenClock
from raxx.common.provision import ProvisionedDatabase
from raxx.gate.checks.gate import GateReport, GateRequest
from raxx.gate.context import GateContext
from raxx.gate.flows import check_flow
from raxx.gate.records import approve, freeze, open_incident
from raxx.gate.verdict import ExitCode, Status
from tests.fixtures.gate import T0, add_release, add_samples, gate_context

H = timedelta(hours=1)


def _by_name(report: GateReport) -> dict[str, tuple[Status, str]]:
    return {r.name: (r.status, r.reason) for r in report.results}


async def _check(ctx: GateContext, release: str = "r1", **kw: object) -> GateReport:
    values: dict[str, object] = {
        "app": "raptor",
        "environment": "prod",
        "release_id": release,
        "trigger": "dispatch",
        "actor": "carol",
    }
    values.update(kw)
    return await check_flow(ctx, GateRequest(**values))  # type: ignore[arg-type]


async def _soaked(ctx: GateContext, clock: FrozenClock, hours: float, release: str = "r1") -> None:
    await add_release(ctx, "raptor", "staging", release, at=clock.now(), by="alice")
    start = clock.now()
    clock.advance(timedelta(hours=hours))
    await add_samples(ctx, "raptor-staging", start, clock.now(), release=release)


async def test_half_a_soak_blocks_with_the_time_remaining(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 12)
        report = await _check(ctx)
    status, reason = _by_name(report)["soak"]
    assert status is Status.FAIL
    assert "12h left" in reason
    assert report.exit_code is ExitCode.BLOCKED
    assert report.soak is not None
    assert 0.49 < report.soak.fraction < 0.51


async def test_a_full_healthy_soak_with_an_approval_passes_every_condition(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 24.5)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment="lgtm")
        report = await _check(ctx)
    conditions = _by_name(report)
    assert [r.name for r in report.results] == [
        "trigger",
        "artifact",
        "soak",
        "sample_coverage",
        "success_rate",
        "approvals",
        "incidents",
        "freeze",
        "lock",
    ]
    assert all(status is Status.PASS for status, _ in conditions.values()), conditions
    assert report.exit_code is ExitCode.PASS
    assert report.candidate is not None
    assert report.candidate.artifact_digest == "sha256:r1"


async def test_a_newer_staging_release_restarts_the_clock_for_the_newer_one(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 10, release="r1")
        await _soaked(ctx, clock, 20, release="r2")
        old, new = await _check(ctx, "r1"), await _check(ctx, "r2")
    status, reason = _by_name(old)["soak"]
    assert status is Status.FAIL
    assert "replaced on raptor-staging by r2" in reason
    new_status, new_reason = _by_name(new)["soak"]
    assert new_status is Status.FAIL
    assert "19h 59m of 1d soaked, 4h left" in new_reason  # up to the last sample


async def test_a_release_that_completed_its_soak_stays_promotable_after_a_newer_push(
    ledger_db: ProvisionedDatabase,
) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 25, release="r1")
        await _soaked(ctx, clock, 2, release="r2")
        report = await _check(ctx, "r1")
    status, reason = _by_name(report)["soak"]
    assert status is Status.PASS, reason
    assert "before r2 replaced it" in reason
    assert report.candidate is not None
    assert report.candidate.release_id == "r1"


async def test_a_gap_in_samples_restarts_the_clock(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        await add_samples(ctx, "raptor-staging", T0, T0 + 10 * H, release="r1")
        # the monitor was silent for an hour, then 15 healthy hours
        await add_samples(ctx, "raptor-staging", T0 + 11 * H, T0 + 26 * H, release="r1")
        clock.set(T0 + 26 * H)
        report = await _check(ctx)
    status, reason = _by_name(report)["soak"]
    assert status is Status.FAIL
    assert "clock restarted" in reason
    assert "no health sample for 3630 s" in reason
    assert "14h 59m of 1d" in reason


async def test_another_release_answering_restarts_the_clock(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        await add_samples(ctx, "raptor-staging", T0, T0 + 30 * H, release="r1")
        await add_samples(ctx, "raptor-staging", T0 + 20 * H, T0 + 20 * H + timedelta(seconds=1), release="rogue")
        clock.set(T0 + 30 * H)
        report = await _check(ctx)
    status, reason = _by_name(report)["soak"]
    assert status is Status.FAIL
    assert "release rogue answered instead" in reason


async def test_failed_samples_count_against_the_success_rate(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        await add_samples(ctx, "raptor-staging", T0, T0 + 22 * H, release="r1")
        await add_samples(ctx, "raptor-staging", T0 + 22 * H, T0 + 25 * H, release="r1", ok=False, reason="503")
        clock.set(T0 + 25 * H)
        report = await _check(ctx)
    status, reason = _by_name(report)["success_rate"]
    assert status is Status.FAIL
    assert "needs 99.00%" in reason
    assert report.exit_code is ExitCode.BLOCKED


async def test_no_samples_at_all_cannot_be_decided(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        clock.advance(30 * H)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        report = await _check(ctx)
    assert _by_name(report)["sample_coverage"][0] is Status.UNKNOWN
    assert "is the monitor running" in _by_name(report)["sample_coverage"][1]
    assert report.exit_code in (ExitCode.CANNOT_DECIDE, ExitCode.BLOCKED)


async def test_a_silent_monitor_now_cannot_be_decided(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 26)
        clock.advance(H)  # the last hour has no sample
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        report = await _check(ctx)
    conditions = _by_name(report)
    assert conditions["soak"][0] is Status.PASS
    assert conditions["sample_coverage"][0] is Status.UNKNOWN
    assert report.exit_code is ExitCode.CANNOT_DECIDE


async def test_a_release_that_never_ran_on_staging_is_blocked(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        report = await _check(ctx, "never")
    assert "never ran on staging" in _by_name(report)["soak"][1]
    assert report.exit_code is ExitCode.BLOCKED


async def test_critical_incident_on_the_app_blocks(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 25)
        await approve(ctx, app="raptor", environment="prod", release_id="r1", approver="bob", comment=None)
        await open_incident(ctx, app="raptor", component="orders", severity="minor", title="slow", actor="oncall")
        assert (await _check(ctx)).exit_code is ExitCode.PASS
        await open_incident(
            ctx, app="raptor", component="orders", severity="critical", title="fills lost", actor="oncall"
        )
        report = await _check(ctx)
    status, reason = _by_name(report)["incidents"]
    assert status is Status.FAIL
    assert "fills lost" in reason


async def test_trigger_and_tag_rules(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 25)
        push = await _check(ctx, trigger="push")
        bad_tag = await _check(ctx, trigger="tag", tag="release-9")
        good_tag = await _check(ctx, trigger="tag", tag="v1.4.0")
        missing = await _check(ctx, trigger=None)
    assert _by_name(push)["trigger"][0] is Status.FAIL
    assert "does not match v*" in _by_name(bad_tag)["trigger"][1]
    assert _by_name(good_tag)["trigger"][0] is Status.PASS
    assert _by_name(missing)["trigger"][0] is Status.UNKNOWN


async def test_a_commit_other_than_the_soaked_one_is_refused(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 25)
        report = await _check(ctx, commit="deadbeef")
    assert _by_name(report)["artifact"][0] is Status.FAIL


async def test_freeze_blocks_and_break_glass_passes_with_a_flag(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await _soaked(ctx, clock, 25)
        await freeze(ctx, environment="prod", until=clock.now() + 48 * H, reason="year-end close", actor="cfo")
        frozen = await _check(ctx)
        glass = await _check(ctx, break_glass_reason="hotfix for fills")
    status, reason = _by_name(frozen)["freeze"]
    assert status is Status.FAIL
    assert "year-end close" in reason
    assert "--break-glass" in reason
    glass_freeze = next(r for r in glass.results if r.name == "freeze")
    assert glass_freeze.status is Status.PASS
    assert glass_freeze.evidence["break_glass"] is True


async def test_a_critical_incident_does_not_block_the_fix_reaching_staging(ledger_db: ProvisionedDatabase) -> None:
    async with gate_context(ledger_db) as ctx:
        await open_incident(ctx, app="raptor", component="orders", severity="critical", title="down", actor="oncall")
        report = await check_flow(
            ctx,
            GateRequest(
                app="raptor",
                environment="staging",
                release_id="fix",
                trigger="push",
                actor="alice",
                commit="c",
                artifact_digest="d",
            ),
        )
    assert report.exit_code is ExitCode.PASS, report.as_dict()


async def test_starting_samples_count_neither_for_nor_against_the_soak(ledger_db: ProvisionedDatabase) -> None:
    clock = FrozenClock(T0)
    async with gate_context(ledger_db, clock=clock) as ctx:
        await add_release(ctx, "raptor", "staging", "r1", at=T0, by="alice")
        ready = T0 + timedelta(seconds=40)
        await add_samples(ctx, "raptor-staging", T0, ready, release=None, ok=False, starting=True)
        end = T0 + 24 * H + timedelta(seconds=11)  # the last sample at 24 h 10 s: the window reaches T0 + 10 s
        await add_samples(ctx, "raptor-staging", ready, end, release="r1")
        clock.set(end)
        report = await _check(ctx)
    rate = next(r for r in report.results if r.name == "success_rate")
    assert rate.status is Status.PASS
    assert rate.evidence["ok"] == rate.evidence["samples"] == 2880
    assert report.soak is not None
    assert report.soak.restart_reason is None
