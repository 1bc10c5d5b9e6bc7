"""The table of console actions: every mutation an operator can ask for, described once.

Each :class:`Action` says what the audit trail calls it, the capability it needs in its
environment, how a refusal names it, what its confirmation page asks, and whether a
protected environment confirms it by default. The console's door
(:func:`raxx.console.actions.perform`), its page and API routes, the confirmation page and
the authorization tests read this table; the environment registry
(:mod:`raxx.common.environments`) reads the defaults and checks every name its TOML lists.

Why here, in ``common``, and not in the console: the registry is in ``common`` and names
actions (``confirm_actions``), and ``common`` may import nothing of the console
(import-linter). With the table beside it, a registry that names an unknown action (a
typo that would silently drop a prod confirmation) is refused when it is loaded, by any
process, not only when a console starts. The table is plain data: no console code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

#: What a role grants in an environment (``raxx.console.auth.roles``); ``self``: acts on the
#: actor's own account and needs only a login.
Capability = Literal["read", "trade", "admin", "audit", "self"]


@dataclass(frozen=True)
class Action:
    """One kind of mutation. ``name`` is what the audit trail records (hashed into its chain:
    never rename one)."""

    name: str
    capability: Capability
    #: How a refusal names it: "alice may not <words> in prod". None: the capability's words
    #: (the token actions need only a login, so no role ever refuses them).
    words: str | None
    #: What the confirmation page asks and its button says ("place this order"); None: the
    #: action never asks for a typed confirmation.
    phrase: str | None = None
    #: Listed in a protected environment's ``confirm_actions`` unless its registry entry says otherwise.
    confirm_by_default: bool = False
    #: What Raptor's request log calls the mutation this action asks of Raptor (``GET
    #: /v1/requests/{id}``'s ``action``); None: the console does it alone and Raptor never
    #: hears of it, so Raptor cannot say whether it happened (the audit reconciler).
    raptor_action: str | None = None

    @property
    def confirmable(self) -> bool:
        return self.phrase is not None


PLACE_ORDER = Action(
    "order.place", "trade", "place orders", "place this order", confirm_by_default=True, raptor_action="order.submit"
)
CANCEL_ORDER = Action("order.cancel", "trade", "cancel orders", "cancel this order", raptor_action="order.cancel")
CANCEL_ALL_ORDERS = Action(
    "order.cancel_all",
    "trade",
    "cancel all orders",
    "cancel ALL open orders",
    confirm_by_default=True,
    raptor_action="order.cancel_all",
)
HALT_TRADING = Action(
    "trading.halt", "admin", "halt trading", "HALT trading", confirm_by_default=True, raptor_action="trading.halt"
)
RESUME_TRADING = Action(
    "trading.resume",
    "admin",
    "resume trading",
    "RESUME trading",
    confirm_by_default=True,
    raptor_action="trading.resume",
)
CHANGE_ROLE = Action("user.role.change", "admin", "manage users", "change this role")
CREATE_TOKEN = Action("token.create", "self", None)
REVOKE_TOKEN = Action("token.revoke", "self", None)
# Release owners: administrators of the environment the release goes to. A promotion has its
# own typed check on the releases page, not this confirmation.
APPROVE_RELEASE = Action("release.approve", "admin", "approve releases")
PROMOTE_RELEASE = Action("release.promote", "admin", "promote releases")
ROLLBACK_RELEASE = Action("release.rollback", "admin", "roll back releases")

# Only the command line does these (``raxx console user add|passwd``): no page or route, so they
# are not in ACTIONS, whose every entry a route performs (tests/console/test_action_table.py).
CREATE_USER = Action("user.create", "admin", "add users")
SET_PASSWORD = Action("user.password.set", "admin", "set passwords")

#: Every action a page or route performs, by name.
ACTIONS: Mapping[str, Action] = {
    action.name: action
    for action in (
        PLACE_ORDER,
        CANCEL_ORDER,
        CANCEL_ALL_ORDERS,
        HALT_TRADING,
        RESUME_TRADING,
        CHANGE_ROLE,
        CREATE_TOKEN,
        REVOKE_TOKEN,
        APPROVE_RELEASE,
        PROMOTE_RELEASE,
        ROLLBACK_RELEASE,
    )
}

#: What a protected environment confirms when its registry entry does not say.
DEFAULT_CONFIRM_ACTIONS: tuple[str, ...] = tuple(a.name for a in ACTIONS.values() if a.confirm_by_default)


def confirmable_names() -> frozenset[str]:
    """The names a registry's ``confirm_actions`` may list: the actions that have a confirmation page."""
    return frozenset(a.name for a in ACTIONS.values() if a.confirmable)
