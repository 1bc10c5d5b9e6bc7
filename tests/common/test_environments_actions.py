"""The registry's ``confirm_actions`` come from the action table (``raxx.common.actions``)."""

from __future__ import annotations

import pytest

from raxx.common.actions import CANCEL_ORDER, DEFAULT_CONFIRM_ACTIONS, HALT_TRADING, PLACE_ORDER
from raxx.common.environments import DEFAULT_REGISTRY_FILE, EnvironmentRegistry
from raxx.common.errors import ConfigError


def _registry(prod_extra: str = "") -> dict[str, object]:
    table = {"raptor_url": "http://127.0.0.1:9", "protected": True}
    if prod_extra:
        table["confirm_actions"] = [prod_extra]
    return {"environments": {"staging": {"raptor_url": "http://127.0.0.1:8"}, "prod": table}}


def test_defaults_are_the_tables() -> None:
    registry = EnvironmentRegistry.from_mapping(_registry())
    assert registry["prod"].confirm_actions == DEFAULT_CONFIRM_ACTIONS
    assert DEFAULT_CONFIRM_ACTIONS == ("order.place", "order.cancel_all", "trading.halt", "trading.resume")
    assert registry["staging"].confirm_actions == ()
    assert registry["prod"].needs_confirmation(PLACE_ORDER)
    assert registry["prod"].needs_confirmation("order.place")
    assert not registry["prod"].needs_confirmation(CANCEL_ORDER)
    assert not registry["staging"].needs_confirmation(HALT_TRADING)


def test_the_packaged_registry_confirms_the_defaults() -> None:
    assert EnvironmentRegistry.from_toml(DEFAULT_REGISTRY_FILE)["prod"].confirm_actions == DEFAULT_CONFIRM_ACTIONS


def test_a_listed_action_may_be_any_confirmable_one() -> None:
    registry = EnvironmentRegistry.from_mapping(_registry(CANCEL_ORDER.name))
    assert registry["prod"].confirm_actions == (CANCEL_ORDER.name,)


@pytest.mark.parametrize("name", ["order.plase", "token.create", "release.promote"])
def test_an_unknown_or_unconfirmable_name_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="ask no confirmation"):
        EnvironmentRegistry.from_mapping(_registry(name))
