"""The connection budget's arithmetic: every pool a process opens, from one declared budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raxx.common import dbbudget
from raxx.common.dbbudget import (
    BudgetSettings,
    BudgetTooSmall,
    Lane,
    console_web_pools,
    gate_command_pools,
    ledger_read_pools,
    monitor_pools,
    one_off_pools,
    raptor_web_pools,
    release_pools,
    split,
)
from raxx.common.errors import ConfigError

CONSOLE_URL = "postgres://u:p@db.example:5432/console"
LEDGER_URL = "postgres://g:p@db.example:5432/ledger"


def budget(**values: object) -> BudgetSettings:
    return BudgetSettings(**values)  # type: ignore[arg-type]


def test_heroku_plans_have_their_documented_limits() -> None:
    assert dbbudget.PLAN_LIMITS["essential-0"] == 20
    assert dbbudget.PLAN_LIMITS["essential-1"] == 20
    assert dbbudget.PLAN_LIMITS["essential-2"] == 40
    assert dbbudget.PLAN_LIMITS["standard-0"] == 120
    assert dbbudget.PLAN_LIMITS["standard-2"] == 400
    assert dbbudget.PLAN_LIMITS["premium-3"] == 500
    assert dbbudget.plan_limit("heroku-postgresql:Essential-0", None, setting="RAXX_DB") == (
        20,
        "plan essential-0 (20)",
    )


def test_an_explicit_limit_overrides_the_plan_and_an_unknown_plan_is_refused_by_name() -> None:
    assert dbbudget.plan_limit("essential-0", 17, setting="RAXX_DB")[0] == 17
    with pytest.raises(ConfigError, match=r"RAXX_DB_PLAN is invalid: 'hobby-dev' is not a Heroku Postgres plan"):
        dbbudget.plan_limit("hobby-dev", None, setting="RAXX_DB")


def test_raptor_on_essential_0_with_two_workers_fits_the_documented_reservations() -> None:
    pools = raptor_web_pools(budget(db_plan="essential-0", web_concurrency=2), paper=True)
    # 20 - release phase 2 - one-off 2 = 16 over 1 dyno x 2 workers = 8 each.
    assert dict(pools.sizes) == {"request": 3, "driver": 3, "venue": 2}
    assert pools.total * 2 + dbbudget.RELEASE_PHASE + dbbudget.ONE_OFF <= 20
    assert pools.log_fields()["budget"] == (
        "raptor database: plan essential-0 (20), reserved 4 (release phase 2, one-off 2), "
        "16 left for 2 web workers: 8 each"
    )
    alpaca = raptor_web_pools(budget(db_plan="essential-0", web_concurrency=2), paper=False)
    assert dict(alpaca.sizes) == {"request": 4, "driver": 4}


def test_a_large_plan_gives_a_worker_no_more_than_it_uses() -> None:
    pools = raptor_web_pools(budget(db_plan="standard-0", web_concurrency=2), paper=True)
    assert dict(pools.sizes) == {"request": 10, "driver": 10, "venue": 5}  # not 58: the local sizes cap it
    assert "25 each (the most one uses)" in pools.budget.explain()


def test_without_a_declared_limit_every_process_keeps_its_local_sizes() -> None:
    assert dict(raptor_web_pools(budget(web_concurrency=8), paper=True).sizes) == {
        "request": 10,
        "driver": 10,
        "venue": 5,
    }
    console = console_web_pools(budget(web_dynos=3), database_url=CONSOLE_URL, ledger_url=None)
    assert dict(console.sizes) == {"app": 10}


def test_a_formation_that_cannot_fit_is_refused_in_one_line_naming_what_to_change() -> None:
    with pytest.raises(BudgetTooSmall) as refused:
        raptor_web_pools(budget(db_plan="essential-0", web_concurrency=4), paper=True)
    message = str(refused.value.detail)
    assert "\n" not in message
    assert "16 left for 4 web workers: 4 each" in message
    assert "needs at least 5 (request 2, driver 2, venue 1)" in message
    assert "lower WEB_CONCURRENCY or RAXX_WEB_DYNOS, or use a larger plan" in message
    assert refused.value.exit_code == 78


def test_the_console_shares_its_database_and_reserves_the_monitor_only_where_it_connects() -> None:
    documented = budget(db_plan="essential-0", web_dynos=2, web_concurrency=2, ledger_db_plan="essential-0")
    apart = console_web_pools(documented, database_url=CONSOLE_URL, ledger_url=LEDGER_URL)
    assert dict(apart.sizes) == {"app": 4}  # (20 - 4) / 4
    together = console_web_pools(documented, database_url=CONSOLE_URL, ledger_url=CONSOLE_URL)
    # The monitor (2) and one board read per worker (4) come out of the same 20: 10 / 4.
    assert dict(together.sizes) == {"app": 2}
    ledger = monitor_pools(documented)
    assert ledger.budget.reserved_total == 2 + 2 + 2 + 4
    assert ledger_read_pools(documented)["ledger"] == 1
    assert gate_command_pools(documented)["pool"] == dbbudget.ONE_OFF


def test_reservations_larger_than_the_limit_refuse_every_process() -> None:
    tiny = budget(db_connection_limit=3)
    for make in (
        lambda: release_pools(tiny, "raptor"),
        lambda: one_off_pools(tiny, "raptor"),
        lambda: raptor_web_pools(tiny, paper=True),
    ):
        with pytest.raises(BudgetTooSmall, match="reservations alone exceed the limit"):
            make()


def test_the_budget_reads_herokus_variables() -> None:
    settings = BudgetSettings.model_validate(
        {"WEB_CONCURRENCY": "02", "RAXX_DB_PLAN": "standard-0", "RAXX_WEB_DYNOS": "3"}, by_alias=True
    )
    assert settings.web_concurrency == 2
    assert BudgetSettings.variables()["web_concurrency"] == "WEB_CONCURRENCY"
    assert BudgetSettings.variables()["db_plan"] == "RAXX_DB_PLAN"


def test_split_gives_each_lane_its_minimum_then_the_rest_by_weight() -> None:
    lanes = (Lane("a", 2, 2), Lane("b", 2, 2), Lane("c", 1, 1))
    assert split(5, lanes) == {"a": 2, "b": 2, "c": 1}
    assert split(25, lanes) == {"a": 10, "b": 10, "c": 5}
    assert split(8, lanes) == {"a": 3, "b": 3, "c": 2}
    with pytest.raises(ValueError, match="4 < 5"):
        split(4, lanes)


@given(
    total=st.integers(min_value=0, max_value=600),
    specs=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 5)), min_size=1, max_size=4),
)
def test_split_never_gives_more_than_the_total_nor_less_than_a_minimum(
    total: int, specs: list[tuple[int, int]]
) -> None:
    lanes = [Lane(f"l{i}", minimum, weight) for i, (minimum, weight) in enumerate(specs)]
    if total < sum(lane.minimum for lane in lanes):
        with pytest.raises(ValueError, match=f"{total} < "):
            split(total, lanes)
        return
    sizes = split(total, lanes)
    assert sum(sizes.values()) == total
    assert all(sizes[lane.name] >= lane.minimum for lane in lanes)


@given(
    limit=st.integers(min_value=1, max_value=500),
    dynos=st.integers(min_value=1, max_value=10),
    workers=st.integers(min_value=1, max_value=8),
    paper=st.booleans(),
)
def test_whatever_a_raptor_formation_gets_fits_its_limit(limit: int, dynos: int, workers: int, paper: bool) -> None:
    """Accepted means every process at once stays within the limit; else it is refused."""
    settings = budget(db_connection_limit=limit, web_dynos=dynos, web_concurrency=workers)
    try:
        pools = raptor_web_pools(settings, paper=paper)
    except BudgetTooSmall:
        assert limit - 4 < (5 if paper else 4) * dynos * workers
        return
    assert pools.total * dynos * workers + dbbudget.RELEASE_PHASE + dbbudget.ONE_OFF <= limit
