"""Named, versioned read-only views: how one deployable reads a table another one writes.

The side that writes a table owns the view over it (its migration creates it and grants
it); the reader selects from the view only, never from the table. A view's name carries its
version: a change the reader would notice is a new view (``_v2``) beside the old one, so
the two deployables can be released in either order. The columns are declared here once;
``tests/contracts`` checks them on both sides (the owner's migrated view has exactly these
columns and types; the reader's query runs against a migrated owner database).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """A view one deployable (``owner``'s migration tree) offers another (``reader``)."""

    name: str
    owner: str
    reader: str
    #: (column, PostgreSQL type as ``information_schema.columns.data_type`` names it), in order.
    columns: tuple[tuple[str, str], ...]
    #: Privileges the reader is granted on the view (a read-only view: ``SELECT`` alone).
    privileges: tuple[str, ...] = ("SELECT",)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def select(self, tail: str = "") -> str:
        """``SELECT <every declared column> FROM <view> <tail>``."""
        columns = ", ".join(self.column_names)
        return f"SELECT {columns} FROM {self.name} {tail}".rstrip()  # noqa: S608 - constants declared here
