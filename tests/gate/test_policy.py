from __future__ import annotations

from datetime import timedelta

import pytest

from raxx.gate.policy import PolicyError, format_duration, load_policy, parse_duration, parse_policy
from tests.fixtures.gate import POLICY_FILE

GOOD = POLICY_FILE.read_text()


def test_the_repository_policy_is_valid_and_says_what_the_issue_asks() -> None:
    policy = load_policy(POLICY_FILE)
    prod = policy.environment("raptor", "prod")
    assert set(prod.triggers) >= {"dispatch", "tag"}
    assert "push" not in prod.triggers
    assert prod.soak is not None
    assert prod.soak.source == "staging"
    assert prod.soak.window == timedelta(hours=24)
    assert prod.approvals_required >= 1
    assert prod.tag_matches("v1.2.0")
    assert not prod.tag_matches("release-1")
    assert list(policy.apps["console"].environments) == ["prod"]
    assert set(policy.environment("console", "prod").smoke_environments) == {"staging", "prod"}
    assert policy.retirement("console-staging").min_days_in_prod == 7


def _refusal(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="deploy/policy.toml")
    return str(caught.value.detail)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_bad_duration_is_refused_with_its_line_and_reason() -> None:
    text = GOOD.replace('window = "24h"', 'window = "24 hours"')
    message = _refusal(text)
    assert message.startswith(f"deploy/policy.toml:{_line_of(text, 'window = ')}:")
    assert "apps.raptor.environments.prod.soak.window" in message
    assert "not a duration" in message


def test_an_unknown_key_is_refused_not_ignored() -> None:
    text = GOOD.replace("required = 1", "required = 1\nrequird = 2")
    message = _refusal(text)
    assert f":{_line_of(text, 'requird')}:" in message
    assert "unknown key" in message


def test_self_approval_can_never_be_switched_on() -> None:
    text = GOOD.replace("required = 1", "required = 1\nallow_self_approval = true")
    assert "self-approval is never allowed" in _refusal(text)


def test_tag_trigger_without_pattern_is_refused() -> None:
    text = GOOD.replace('tag_pattern = "v*"\n', "")
    assert "tag_pattern" in _refusal(text)


def test_unknown_trigger_and_bad_soak_source_are_refused() -> None:
    assert "'nightly' is not one of" in _refusal(GOOD.replace('triggers = ["dispatch"', 'triggers = ["nightly"'))
    assert "is not an environment of raptor" in _refusal(GOOD.replace('source = "staging"', 'source = "qa"'))


def test_min_samples_beyond_what_the_window_holds_is_refused() -> None:
    assert "more than the window can hold" in _refusal(GOOD.replace("min_samples = 2592", "min_samples = 999999"))


def test_toml_syntax_errors_name_the_line() -> None:
    message = _refusal(GOOD.replace("[apps.console]", "[apps.console"))
    assert "not valid TOML" in message
    assert "line" in message


def test_durations_round_trip() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("7d") == timedelta(days=7)
    assert format_duration(timedelta(hours=17, minutes=12)) == "17h 12m"
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
