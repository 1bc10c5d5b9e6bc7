"""Property: whatever an operator does across several tabs, an action executes only where its page showed.

Hypothesis drives one browser (one cookie jar) against the real console (uvicorn) in front of
two real Raptor servers. Each *tab* is a page rendered for one environment: its URL, the
form's hidden ``environment`` field and the session's CSRF token as rendered. Rules open
pages, switch the session's environment from some tab (confirming the protected one), act
from a tab (with the typed confirmation prod asks for), sign in again (old tabs go stale),
and tamper (post a tab's form to the other environment's URL).

Every post gets an ``X-Request-ID`` of the console's own (returned in the response; the
console mints one for every mutation); Raptor's request log (``GET /v1/requests/{id}``, read
straight from each Raptor) says where it executed. The invariant: never anywhere but
the tab's environment; a mismatched post is refused with 400 and reaches neither Raptor.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from raxx.common.provision import ProvisionedDatabase
from tests.console.conftest import PASSWORD, RunningRaptor, add_team, raptor_tokens
from tests.fixtures.apps import console_app, csrf_from
from tests.fixtures.network import LOOPBACK_ONLY
from tests.fixtures.servers import serve

pytestmark = LOOPBACK_ONLY

ENVS = ("staging", "prod")
PROTECTED = {"prod"}
#: What each user may do, per environment (see ``add_team``): olga trades on staging only.
CAN = {
    ("alice", "staging"): {"trade", "admin"},
    ("alice", "prod"): {"trade", "admin"},
    ("olga", "staging"): {"trade"},
    ("olga", "prod"): set(),
}
#: page -> the form a tab on it can submit (the trading page's depends on the switch).
PAGES = {"orders": "cancel-all-form", "orders/new": "order-form", "trading": None}
NEEDS = {"order.place": "trade", "order.cancel_all": "trade", "trading.halt": "admin", "trading.resume": "admin"}
_HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def form_fields(page: str, form_id: str) -> dict[str, str] | None:
    """The hidden inputs of the form ``form_id`` on ``page``; None when the page does not show it."""
    marker = f'id="{form_id}"'
    if marker not in page:
        return None
    start = page.index(marker)
    body = page[start : page.index("</form>", start)]
    return {name: html_lib.unescape(value) for name, value in _HIDDEN_RE.findall(body)}


@dataclass
class Tab:
    """A page as the browser holds it: rendered once, for one environment, in one session."""

    env: str
    page: str
    action: str
    url: str
    fields: dict[str, str]
    session: int
    visible: bool = field(default=True)


class Raptors:
    """Where a request id executed, asked of each Raptor itself (not through the console)."""

    def __init__(self, raptors: dict[str, RunningRaptor]) -> None:
        self.clients = {env: r.direct() for env, r in raptors.items()}
        #: what the run exercised, so a run that never acted (or never tampered) cannot pass
        self.tally: Counter[str] = Counter()

    def executed_in(self, request_id: str) -> dict[str, str | None]:
        """env -> the actor Raptor recorded for ``request_id`` (absent where it did not execute)."""
        seen: dict[str, str | None] = {}
        for env, client in self.clients.items():
            answer = client.get(f"/v1/requests/{request_id}")
            assert answer.status_code == 200, answer.text
            if answer.json()["found"]:
                seen[env] = answer.json()["actor"]
        return seen

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _action_of(page: str, trading_form: str) -> tuple[str, str]:
    if page == "orders":
        return "order.cancel_all", "/orders/cancel-all"
    if page == "orders/new":
        return "order.place", "/orders"
    return ("trading.halt", "/trading/halt") if trading_form == "halt-form" else ("trading.resume", "/trading/resume")


def _typed_target(action: str) -> str:
    return {
        "order.place": "BUY 1 AAPL",
        "order.cancel_all": "ALL OPEN ORDERS",
        "trading.halt": "HALT",
        "trading.resume": "RESUME",
    }[action]


def make_machine(console_url: str, raptors: Raptors) -> type[RuleBasedStateMachine]:
    class Tabs(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.browser = httpx.Client(base_url=console_url, timeout=20)
            self.tabs: list[Tab] = []
            self.user = ""
            self.session = 0
            self.current_env = "staging"

        def teardown(self) -> None:
            self.browser.close()

        # -- helpers -------------------------------------------------------------
        def _post(self, url: str, data: dict[str, str]) -> tuple[httpx.Response, str]:
            # The id sent is not the one acted under: the console names each mutation itself.
            response = self.browser.post(url, data=data, headers={"X-Request-ID": f"tabs-{uuid.uuid4().hex}"})
            return response, response.headers["x-request-id"]

        def _expect_nothing_sent(self, request_id: str, why: str) -> None:
            assert raptors.executed_in(request_id) == {}, why

        def _sign_in(self, user: str) -> None:
            self.browser.cookies.clear()
            page = self.browser.get("/login")
            form = {"username": user, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
            done = self.browser.post("/login", data=form)
            assert done.status_code == 303, done.text
            self.user, self.session = user, self.session + 1
            # Where a new session starts is the login's business; from here on only a switch moves it.
            self.current_env = self.browser.get("/").headers["location"].strip("/")
            assert self.current_env in ENVS, "signed in, yet sent back to the login page"

        # -- rules ---------------------------------------------------------------
        @initialize(user=st.sampled_from(["alice", "olga"]))
        def first_login(self, user: str) -> None:
            self._sign_in(user)

        @rule(user=st.sampled_from(["alice", "olga"]))
        def login_again(self, user: str) -> None:
            """A new session: tabs rendered under the old one now carry a dead CSRF token."""
            self._sign_in(user)

        @rule(env=st.sampled_from(ENVS), page=st.sampled_from(sorted(PAGES)))
        def open_tab(self, env: str, page: str) -> None:
            shown = self.browser.get(f"/{env}/{page}")
            if page == "orders/new" and "trade" not in CAN[(self.user, env)]:
                assert shown.status_code == 403, shown.text  # no order form for a viewer ...
                shown = self.browser.get(f"/{env}/orders")  # ... who forges one from the list page
            assert shown.status_code == 200, shown.text
            assert f'data-env="{env}"' in shown.text
            form_id = PAGES[page]
            if form_id is None:
                form_id = "resume-form" if 'data-halted="true"' in shown.text else "halt-form"
            action, suffix = _action_of(page, form_id)
            fields = form_fields(shown.text, form_id)
            visible = fields is not None
            if fields is None:  # a control the role hides: a forger rebuilds the form anyway
                fields = {"csrf_token": csrf_from(shown.text), "environment": env}
            assert fields["environment"] == env
            self.tabs.append(Tab(env, page, action, f"/{env}{suffix}", fields, self.session, visible))

        @rule(data=st.data(), to_env=st.sampled_from(ENVS))
        def switch_from_a_tab(self, data: st.DataObject, to_env: str) -> None:
            if not self.tabs:
                return
            tab = data.draw(st.sampled_from(self.tabs))
            form = {"csrf_token": tab.fields["csrf_token"], "from_env": tab.env, "to_env": to_env, "next": "/orders"}
            if to_env in PROTECTED and tab.env != to_env:
                asked, request_id = self._post("/switch", form)
                if tab.session == self.session:
                    assert asked.status_code == 200, asked.text
                    assert 'action="/switch"' in asked.text
                    assert self.browser.get("/").headers["location"] == f"/{self.current_env}/"  # not yet
                form["confirmed"] = "yes"
            switched, request_id = self._post("/switch", form)
            if tab.session != self.session:
                assert switched.status_code == 403, switched.text
            else:
                assert switched.status_code == 303, switched.text
                assert switched.headers["location"] == f"/{to_env}/orders"
                raptors.tally[f"switched to {to_env}"] += 1
                self.current_env = to_env
            self._expect_nothing_sent(request_id, "a switch never calls Raptor")

        @rule(data=st.data(), quantity=st.integers(min_value=1, max_value=3))
        def act_from_a_tab(self, data: st.DataObject, quantity: int) -> None:
            if not self.tabs:
                return
            tab = data.draw(st.sampled_from(self.tabs))
            form = dict(tab.fields)
            if tab.action == "order.place":
                form.update(symbol="AAPL", side="buy", type="market", quantity="1", limit_price="", time_in_force="day")
                form["client_order_id"] = f"tabs-{uuid.uuid4().hex}"  # each submit a new order
            if tab.action == "trading.halt":
                form["reason"] = "property drill"
            response, request_id = self._post(tab.url, form)
            allowed = NEEDS[tab.action] in CAN[(self.user, tab.env)]
            if tab.session != self.session or not allowed:
                assert response.status_code == 403, (tab, response.text)
                self._expect_nothing_sent(request_id, "a refused post reaches no Raptor")
                return
            if tab.env in PROTECTED:
                assert response.status_code == 200, response.text
                assert 'data-confirm="' in response.text
                assert f'data-env="{tab.env}"' in response.text
                self._expect_nothing_sent(request_id, "the confirmation page acts on nothing")
                confirm = form_fields(response.text, "confirm-form")
                assert confirm is not None
                typed = {**confirm, "typed_env": tab.env, "typed_target": _typed_target(tab.action)}
                response, request_id = self._post(tab.url, typed)
            executed = raptors.executed_in(request_id)
            assert set(executed) <= {tab.env}, f"{tab.action} from a {tab.env} tab executed in {sorted(executed)}"
            if response.status_code == 303:
                raptors.tally[f"executed in {tab.env}"] += 1
                assert response.headers["location"].startswith(f"/{tab.env}/")
                if tab.action != "order.cancel_all":  # cancel-all with nothing open is a no-op
                    assert executed == {tab.env: self.user}, (tab.action, response.headers["location"])

        @rule(data=st.data())
        def tamper_post_to_the_other_environment(self, data: st.DataObject) -> None:
            live = [tab for tab in self.tabs if tab.session == self.session]  # stale ones: see act_from_a_tab
            if not live:
                return
            tab = data.draw(st.sampled_from(live))
            other = next(env for env in ENVS if env != tab.env)
            form = {**tab.fields, "symbol": "AAPL", "side": "buy", "type": "market", "quantity": "1"}
            form.update(typed_env=other, typed_target=_typed_target(tab.action), reason="tamper")
            response, request_id = self._post(tab.url.replace(f"/{tab.env}/", f"/{other}/", 1), form)
            if tab.session != self.session:
                assert response.status_code == 403, response.text  # the CSRF check comes first
            else:
                assert response.status_code == 400, response.text
                assert 'data-error="environment_mismatch"' in response.text
                raptors.tally["mismatch refused"] += 1
            self._expect_nothing_sent(request_id, "a mismatched post reaches neither Raptor")

        @invariant()
        def root_follows_the_session_only(self) -> None:
            if self.user:
                assert self.browser.get("/").headers["location"] == f"/{self.current_env}/"

    return Tabs


@pytest.fixture
def console_url(console_db: ProvisionedDatabase, tmp_path: Path, raptors: dict[str, RunningRaptor]) -> Iterator[str]:
    from tests.fixtures.apps import write_registry

    registry = write_registry(tmp_path / "environments.toml", {env: r.url for env, r in raptors.items()})
    asyncio.run(add_team(console_db))
    with serve(console_app(console_db, registry, raptor_tokens(raptors))) as server:
        yield server.url


def test_no_action_ever_executes_outside_the_environment_its_tab_showed(
    console_url: str, raptors: dict[str, RunningRaptor]
) -> None:
    lookups = Raptors(raptors)
    try:
        run_state_machine_as_test(
            make_machine(console_url, lookups),
            settings=settings(
                max_examples=15,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
                database=None,  # the Raptors' state outlives an example: replaying one is not a replay
            ),
        )
        # Random walks this short do not always reach an executed action, so one directed walk
        # through the same rules (and the same checks) makes sure real executions in both
        # environments, the prod one through its typed confirmation, are always examined.
        directed(make_machine(console_url, lookups))
    finally:
        lookups.close()
    assert lookups.tally["executed in staging"] > 0, lookups.tally
    assert lookups.tally["executed in prod"] > 0, lookups.tally


class _Newest:
    """Stands in for Hypothesis' ``data`` in a directed walk: always picks the newest tab."""

    def __init__(self, machine: RuleBasedStateMachine) -> None:
        self.machine = machine

    def draw(self, _strategy: object) -> object:
        return self.machine.tabs[-1]  # type: ignore[attr-defined]


def directed(machine_class: type[RuleBasedStateMachine]) -> None:
    machine = machine_class()
    try:
        machine.first_login("alice")  # type: ignore[attr-defined]
        for env in ENVS:
            machine.open_tab(env, "orders/new")  # type: ignore[attr-defined]
            machine.act_from_a_tab(_Newest(machine), 1)  # type: ignore[attr-defined]
            machine.open_tab("staging" if env == "prod" else "prod", "orders")  # type: ignore[attr-defined]
            machine.tamper_post_to_the_other_environment(_Newest(machine))  # type: ignore[attr-defined]
    finally:
        machine.teardown()
