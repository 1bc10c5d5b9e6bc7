"""A query parameter an endpoint does not declare is refused, never ignored.

Starlette hands every query parameter to the endpoint and FastAPI reads the ones it
declares; the rest used to be dropped, so a filter an endpoint lacks widened what it did
(``DELETE /v1/orders?symbol=AAPL`` canceled every open order) and a typo (``?stauts=new``)
listed everything. ``known_query_only`` is an app-wide dependency (``FastAPI(dependencies=
[KNOWN_QUERY_ONLY])``): the route's own declaration is the list of what it takes.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute

from raxx.common.errors import field_errors

#: The attribute a route keeps its declared query parameters in, once worked out (a route
#: compares by value, so it cannot key a cache).
_DECLARED = "_raxx_declared_query"


async def known_query_only(request: Request) -> None:
    """422 ``validation_error`` naming each query parameter the route does not declare."""
    if not request.scope.get("query_string"):
        return
    declared = declared_query(request.scope["route"])
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in declared]
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise field_errors({name: f"not a query parameter of this endpoint (it takes: {takes})" for name in unknown})


def declared_query(route: BaseRoute) -> frozenset[str]:
    """The query parameters ``route`` declares, its dependencies' included (worked out once)."""
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:
        dependant = getattr(route, "dependant", None)
        declared = frozenset(_query_names(dependant)) if dependant is not None else frozenset()
        setattr(route, _DECLARED, declared)
    return declared


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


#: The dependency as an app or router declares it.
KNOWN_QUERY_ONLY = Depends(known_query_only)
