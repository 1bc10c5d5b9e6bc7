"""A query parameter an endpoint does not declare is refused, never ignored.

Starlette hands every query parameter to the endpoint and FastAPI reads the ones it
declares; the rest used to be dropped, so a filter an endpoint lacks widened what it did
(``DELETE /v1/orders?symbol=AAPL`` canceled every open order) and a typo (``?stauts=new``)
listed everything. ``known_query_only`` is an app-wide dependency (``FastAPI(dependencies=
[KNOWN_QUERY_ONLY])``): the route's own declaration is the list of what it takes. A parameter
declared with one value and given twice is refused as well, rather than the last one taken.
"""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute

from raxx.common.errors import field_errors

#: The attribute a route keeps its declared query parameters in, once worked out (a route
#: compares by value, so it cannot key a cache).
_DECLARED = "_raxx_declared_query"


async def known_query_only(request: Request) -> None:
    """422 ``validation_error`` naming each query parameter the route does not declare, and each
    one-valued parameter given more than once (``limit=1&limit=3`` used to take the last)."""
    if not request.scope.get("query_string"):
        return
    declared = declared_query(request.scope["route"])
    problems: dict[str, str] = {}
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            takes = ", ".join(sorted(declared)) or "none"
            problems[name] = f"not a query parameter of this endpoint (it takes: {takes})"
        elif not declared[name] and len(request.query_params.getlist(name)) > 1:
            problems[name] = "given more than once; it takes one value"
    if problems:
        raise field_errors(problems)


def declared_query(route: BaseRoute) -> dict[str, bool]:
    """The query parameters ``route`` declares, its dependencies' included, each with whether it
    takes several values (a list) (worked out once)."""
    declared: dict[str, bool] | None = getattr(route, _DECLARED, None)
    if declared is None:
        dependant = getattr(route, "dependant", None)
        declared = _query_names(dependant) if dependant is not None else {}
        setattr(route, _DECLARED, declared)
    return declared


def _query_names(dependant: Dependant) -> dict[str, bool]:
    names = {field.alias: _takes_many(field.field_info.annotation) for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _takes_many(annotation: object) -> bool:
    """``list[str]``, ``list[str] | None``, ``Annotated[list[...], ...]``: several values."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    return origin in (list, tuple, set, frozenset)


#: The dependency as an app or router declares it.
KNOWN_QUERY_ONLY = Depends(known_query_only)
