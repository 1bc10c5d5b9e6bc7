"""Per-environment roles. A user holds at most one role per environment; none means no access."""

from __future__ import annotations

from typing import Literal

from raxx.common.errors import BadRequest

Role = Literal["viewer", "operator", "admin", "auditor"]
ROLE_NAMES: tuple[Role, ...] = ("viewer", "operator", "admin", "auditor")

# What each role may do in its environment. An auditor reads everything and the audit
# trail, and changes nothing.
_CAPABILITIES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "auditor": frozenset({"read", "audit"}),
    "operator": frozenset({"read", "trade"}),
    "admin": frozenset({"read", "trade", "admin", "audit"}),
}


def validate_role(role: str) -> Role:
    if role not in ROLE_NAMES:
        raise BadRequest(f"unknown role {role!r}; expected one of {', '.join(ROLE_NAMES)}")
    return role  # type: ignore[return-value,unused-ignore]


def can(roles: dict[str, str], environment: str, capability: str) -> bool:
    """Whether the holder of ``roles`` may exercise ``capability`` in ``environment``."""
    role = roles.get(environment)
    return role is not None and capability in _CAPABILITIES.get(role, frozenset())
