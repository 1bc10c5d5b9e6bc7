"""Per-environment roles. A user holds at most one role per environment; none means no access."""

from __future__ import annotations

from typing import Literal, get_args

from raxx.common.errors import BadRequest

Role = Literal["viewer", "operator", "admin", "auditor"]
#: The roles there are, in the order messages list them: what the database's check constraint
#: (``auth/models.py``), ``raxx console user`` and the OIDC role map's validation accept.
ROLE_NAMES: tuple[Role, ...] = get_args(Role)
#: A role change that removes the role held (the users page's choice, ``raxx console user
#: revoke``): what the audit trail records as ``role`` of ``user.role.change``.
NO_ROLE = "none"

#: What each role may do in its environment; the roles table of
#: docs/architecture/console-env-switcher.md is held to it (tests/console/test_roles.py).
#: An auditor reads everything and the audit trail, and changes nothing.
CAPABILITIES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "trade"}),
    "admin": frozenset({"read", "trade", "admin", "audit"}),
    "auditor": frozenset({"read", "audit"}),
}

#: When an identity provider's groups grant several roles in one environment, the strongest
#: wins (neither of auditor and operator can do all the other can: operator ranks higher).
ROLE_STRENGTH: dict[str, int] = {"viewer": 1, "auditor": 2, "operator": 3, "admin": 4}


def validate_role(role: str) -> Role:
    if role not in ROLE_NAMES:
        raise BadRequest(f"unknown role {role!r}; expected one of {', '.join(ROLE_NAMES)}")
    return role  # type: ignore[return-value,unused-ignore]


def can(roles: dict[str, str], environment: str, capability: str) -> bool:
    """Whether the holder of ``roles`` may exercise ``capability`` in ``environment``."""
    role = roles.get(environment)
    return role is not None and capability in CAPABILITIES.get(role, frozenset())
