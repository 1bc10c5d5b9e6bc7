"""Parsing what operators type, without any backend: a form that does not parse sends nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from raxx.console.operations.forms import order_phrase, parse_order_filter, parse_order_form, parse_reason


def form(**fields: str) -> dict[str, str]:
    base = {
        "symbol": "aapl",
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "12.50",
        "time_in_force": "gtc",
        "client_order_id": "console-1",
    }
    base.update(fields)
    return base


def test_a_good_limit_order_parses_to_exact_decimals() -> None:
    parsed = parse_order_form(form())
    assert parsed.ok
    assert parsed.order is not None
    assert parsed.order.symbol == "AAPL"
    assert parsed.order.quantity == Decimal("10")
    assert parsed.order.limit_price == Decimal("12.50")
    assert order_phrase(parsed.order) == "BUY 10 AAPL @ 12.5"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", ""),
        ("quantity", "0"),
        ("quantity", "1,5"),
        ("quantity", "NaN"),
        ("quantity", "Infinity"),
        ("quantity", "1e3"),
        ("quantity", "0.000000001"),
        ("quantity", "10000000000"),
        ("quantity", "\u0665"),  # an Arabic-Indic five: Decimal reads it, the API does not
        ("quantity", "5_000"),
        ("quantity", "\uff15"),
        ("quantity", "+5"),
        ("limit_price", "1.23456"),
        ("limit_price", "\u0661\u0662.5"),
        ("limit_price", ""),
        ("symbol", "APPLE INC"),
        ("side", "short"),
        ("type", "stop"),
        ("time_in_force", "ioc"),
        ("client_order_id", "has space"),
    ],
)
def test_each_bad_field_is_marked_and_nothing_is_built(field: str, value: str) -> None:
    parsed = parse_order_form(form(**{field: value}))
    assert set(parsed.errors) == {field}
    assert parsed.order is None
    assert parsed.values[field] == (value.upper() if field == "symbol" else value)


def test_a_market_order_refuses_a_limit_price_but_ignores_an_empty_one() -> None:
    assert set(parse_order_form(form(type="market")).errors) == {"limit_price"}
    assert parse_order_form(form(type="market", limit_price="")).ok


def test_a_halt_needs_a_reason() -> None:
    assert parse_reason({"reason": "   "}).errors
    assert parse_reason({"reason": "x" * 501}).errors
    assert parse_reason({"reason": " broker\n outage "}).values["reason"] == "broker outage"


def test_order_filters_turn_days_into_a_half_open_range() -> None:
    parsed = parse_order_filter(
        {"since": "2026-11-01", "until": "2026-11-02", "symbol": "ibm", "limit": "25"}, ["new", "filled"]
    )
    assert parsed.query is not None
    assert parsed.query.created_since == "2026-11-01T00:00:00"
    assert parsed.query.created_until == "2026-11-03T00:00:00"
    assert parsed.query.statuses == ("new", "filled")
    assert parsed.query.limit == 25
    bad = parse_order_filter({"since": "2026-11-05", "until": "2026-11-01"}, ["bogus"])
    assert set(bad.errors) == {"until", "status"}
    assert bad.query is None
    # A page size in another script's digits is no page size (a superscript two crashed the page).
    for odd in ("\u00b2", "\uff12\uff15"):
        assert parse_order_filter({"limit": odd}, []).query.limit == 50  # type: ignore[union-attr]
