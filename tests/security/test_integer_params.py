"""Every integer a request carries in its path or query fits PostgreSQL's bigint before it
reaches a statement (raxx.common.storable.StorableInt): a larger one is a 422 naming the
field (or, for a row's number in a path, a 404), never psycopg's "bigint out of range" as a 500.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from raxx.common.storable import BIGINT_MAX, BIGINT_MIN
from raxx.console.app import ROUTERS as CONSOLE_ROUTERS
from raxx.raptor.app import ROUTERS as RAPTOR_ROUTERS

#: Path numbers a repository looks up itself: one no bigint holds finds nothing (404).
LOOKED_UP = {("/{env}/audit/{seq}", "seq")}


def _params(dependant: Dependant) -> Iterator[tuple[str, object, list[object]]]:
    for param in (*dependant.path_params, *dependant.query_params):
        yield param.name, param.field_info.annotation, list(param.field_info.metadata)
    for sub in dependant.dependencies:
        yield from _params(sub)


def _bounds(annotation: object, metadata: list[object]) -> tuple[int | None, int | None]:
    """The tightest ge/le on the parameter or inside its (optional) annotation."""
    found = list(metadata)
    for arg in getattr(annotation, "__args__", ()):
        found += list(getattr(arg, "__metadata__", ()))
        for meta in getattr(arg, "__metadata__", ()):
            found += list(getattr(meta, "metadata", ()))
    lows = [low for low in (getattr(m, "ge", None) for m in found) if low is not None]
    highs = [high for high in (getattr(m, "le", None) for m in found) if high is not None]
    return (max(lows) if lows else None, min(highs) if highs else None)


def test_every_integer_parameter_fits_a_bigint() -> None:
    seen = []
    for router in (*CONSOLE_ROUTERS, *RAPTOR_ROUTERS):
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for name, annotation, metadata in _params(route.dependant):
                if "int" not in str(annotation) or (route.path, name) in LOOKED_UP:
                    continue
                low, high = _bounds(annotation, metadata)
                seen.append((route.path, name))
                assert low is not None, (route.path, name, "no lower bound: use StorableInt")
                assert low >= BIGINT_MIN, (route.path, name)
                assert high is not None, (route.path, name, "no upper bound: use StorableInt")
                assert high <= BIGINT_MAX, (route.path, name)
    assert ("/{env}/audit", "before") in seen  # the walk saw them
    assert ("/v1/orders", "limit") in seen
