"""Named, versioned read-only views: how one deployable reads a table another one writes.

The side that writes a table owns the view over it (its migration creates it and grants
it, ``raxx.common.migration_ops.create_contract_view``); the reader selects from the view
only, never from the table. A view's name carries its version: a change the reader would
notice is a new view (``_v2``) beside the old one, so the two deployables can be released in
either order. The columns are declared here once; ``tests/contracts`` checks them on both
sides (the owner's migrated view has exactly these columns and types; the reader's queries
run against a migrated owner database).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """``route`` is ``"owner -> reader"``: the owner's migration tree, then the deployable reading it."""

    name: str
    route: str
    #: ``"column type, ..."`` in order, each type as ``information_schema.columns.data_type`` names it.
    spec: str
    #: What the reader may do with the view (a read-only view: ``SELECT`` alone).
    privileges: tuple[str, ...] = ("SELECT",)

    @property
    def owner(self) -> str:
        return self.route.split(" -> ")[0]

    @property
    def reader(self) -> str:
        return self.route.split(" -> ")[1]

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        pairs = (column.strip().split(" ", 1) for column in self.spec.split(","))
        return tuple((name, data_type) for name, data_type in pairs)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def select(self, tail: str = "") -> str:
        """``SELECT <every declared column> FROM <view> <tail>``."""
        columns = ", ".join(self.column_names)
        return f"SELECT {columns} FROM {self.name} {tail}".rstrip()  # noqa: S608 - constants declared here
