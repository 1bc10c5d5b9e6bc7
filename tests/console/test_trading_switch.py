"""Halting a halted system and resuming a running one change nothing (Raptor's switch is
idempotent): the audit record and what the operator reads say so, never that it took effect."""

from __future__ import annotations

import httpx

from raxx.common.provision import ProvisionedDatabase
from tests.console.helpers import outcomes, signed_in
from tests.console.test_api import bearer, new_token


async def test_a_second_halt_is_recorded_as_changing_nothing(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    headers = {**bearer(await new_token(console_db, "alice", environments=("prod",))), "X-Raxx-Confirm": "prod"}
    first = await console.post("/api/prod/trading/halt", json={"reason": "test halt"}, headers=headers)
    try:
        assert first.status_code == 200, first.text
        assert (first.json()["halted"], first.json()["changed"]) == (True, True)
        second = await console.post("/api/prod/trading/halt", json={"reason": "test halt again"}, headers=headers)
        assert second.status_code == 200, second.text
        assert second.json()["changed"] is False
        assert (second.json()["reason"], second.json()["changed_at"]) == ("test halt", first.json()["changed_at"])
        done, again = outcomes(console_db, action="trading.halt")
        assert (done["params"]["changed"], done["params"]["reason"]) == (True, "test halt")
        assert "requested_reason" not in done["params"]
        assert (again["outcome"], again["environment"], again["params"]["changed"]) == ("ok", "prod", False)
        assert again["params"]["reason"] == "test halt"  # the reason in force, not the one asked
        assert again["params"]["requested_reason"] == "test halt again"
        assert again["params"]["in_force_by"] == first.json()["actor"]
        assert again["params"]["in_force_since"].startswith(first.json()["changed_at"][:19])
    finally:
        resumed = await console.post("/api/prod/trading/resume", headers=headers)
    assert resumed.json()["changed"] is True
    not_halted = await console.post("/api/prod/trading/resume", headers=headers)
    assert (not_halted.status_code, not_halted.json()["changed"]) == (200, False)
    assert [e["params"]["changed"] for e in outcomes(console_db, action="trading.resume")] == [True, False]


async def test_the_page_says_trading_was_already_halted(
    console: httpx.AsyncClient, console_db: ProvisionedDatabase
) -> None:
    csrf = await signed_in(console)
    form = {"csrf_token": csrf, "environment": "staging"}
    halted = await console.post("/staging/trading/halt", data={**form, "reason": "broker maintenance"})
    try:
        assert 'data-notice="halted"' in (await console.get(halted.headers["location"])).text
        again = await console.post("/staging/trading/halt", data={**form, "reason": "another reason"})
        assert again.status_code == 303
        page = (await console.get(again.headers["location"])).text
        assert 'data-notice="already_halted"' in page
        assert "Trading was already halted: nothing changed" in page
        assert "Reason: <strong>broker maintenance</strong>" in page
        assert outcomes(console_db, action="trading.halt")[-1]["params"]["requested_reason"] == "another reason"
    finally:
        resumed = await console.post("/staging/trading/resume", data=form)
    assert 'data-notice="resumed"' in (await console.get(resumed.headers["location"])).text
    again = await console.post("/staging/trading/resume", data=form)
    assert 'data-notice="not_halted"' in (await console.get(again.headers["location"])).text
    assert outcomes(console_db, action="trading.resume")[-1]["params"]["changed"] is False
