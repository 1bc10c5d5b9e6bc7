"""The action table (``raxx.common.actions``) against the routes, the authorization matrix and
the route walk: a route that audits a table action asks the table's capability, the
matrix (kept by hand in ``tests/security/test_authz_matrix.py``) agrees with the table, and
every action of the table has a route; and the confirmation page speaks the table's phrase.
Only the last test starts the app."""

from __future__ import annotations

import html

import httpx
from fastapi.routing import APIRoute

from raxx.common.actions import ACTIONS, CANCEL_ALL_ORDERS, HALT_TRADING, PLACE_ORDER, RESUME_TRADING
from raxx.console.app import ROUTERS
from raxx.console.audit.routes import audit_spec_of
from tests.console.helpers import order_form, signed_in
from tests.console.test_route_table import SAMPLES
from tests.security.test_authz_matrix import CONSOLE_MATRIX, SIGNED_IN


def _action_routes() -> dict[tuple[str, str], tuple[str, bool]]:
    """(method, path) -> (the table action it audits, whether it may answer with a prompt)."""
    found: dict[tuple[str, str], tuple[str, bool]] = {}
    for router in ROUTERS:
        for route in router.routes:
            spec = audit_spec_of(route.endpoint) if isinstance(route, APIRoute) else None
            if spec is None or spec.action not in ACTIONS:
                continue
            for method in route.methods:
                found[(method, route.path)] = (spec.action, spec.prompt is not None)
    return found


def test_every_action_has_a_route() -> None:
    used = {name for name, _ in _action_routes().values()}
    assert set(ACTIONS) - used == set(), "an action of the table that no route performs"


def test_the_matrix_asks_what_the_table_says() -> None:
    for key, (name, _) in _action_routes().items():
        capability = ACTIONS[name].capability
        assert CONSOLE_MATRIX[key] == (SIGNED_IN if capability == "self" else capability), key


def test_web_routes_prompt_exactly_for_confirmable_actions() -> None:
    """A page asks a typed confirmation (``@audited(prompt=...)``) for the actions the table
    gives a confirmation phrase; the JSON API asks a header instead, never a prompt."""
    for (method, path), (name, prompts) in _action_routes().items():
        expected = ACTIONS[name].confirmable and not path.startswith("/api/")
        assert prompts == expected, (method, path, name)


def test_the_route_walk_samples_name_table_actions() -> None:
    routes = _action_routes()
    for key, (name, _, _) in SAMPLES.items():
        assert routes[key][0] == name, key


def test_every_action_reads_as_a_refusal_and_a_confirmation() -> None:
    for action in ACTIONS.values():
        assert action.words or action.capability == "self", action.name
        if action.confirm_by_default:
            assert action.confirmable, action.name


async def test_the_confirmation_page_says_the_tables_phrase(console: httpx.AsyncClient) -> None:
    csrf = await signed_in(console)
    prod = {"csrf_token": csrf, "environment": "prod"}
    asked = {
        PLACE_ORDER: ("/prod/orders", order_form(csrf, "prod", client_order_id="t-phrase", symbol="XOM")),
        CANCEL_ALL_ORDERS: ("/prod/orders/cancel-all", prod),
        HALT_TRADING: ("/prod/trading/halt", {**prod, "reason": "phrase check"}),
        RESUME_TRADING: ("/prod/trading/resume", prod),
    }
    for action, (url, form) in asked.items():
        page = await console.post(url, data=form)
        assert page.status_code == 200, (action.name, page.text)
        text = html.unescape(page.text)
        assert f'data-confirm="{action.name}"' in text
        assert action.phrase is not None
        assert f"Confirm: {action.phrase} in PRODUCTION" in text
        assert f"{action.phrase.capitalize()} in PRODUCTION" in text  # the heading and the button
