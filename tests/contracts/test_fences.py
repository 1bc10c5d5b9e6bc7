"""Readers go through the views: no SQL in one deployable names a table another one owns.

The console owns the audit trail; the gate owns the ledger. A query in the console against
a ledger table (or in the gate against the audit trail) would bypass the contract views of
``raxx.common.contracts`` and break silently when the owner reshapes its table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "raxx"
LEDGER_TABLES = ("release_board", "release_request", "health_sample", "release", "incident", "approval", "freeze")
AUDIT_TABLES = ("audit_event", "audit_checkpoint")


def _sql_naming(tables: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:FROM|INTO|JOIN|UPDATE)\s+(?:{'|'.join(tables)})\b")


@pytest.mark.parametrize(
    ("reader", "tables"), [("console", LEDGER_TABLES), ("gate", AUDIT_TABLES)], ids=["console", "gate"]
)
def test_no_reader_query_names_a_table_of_the_other_side(reader: str, tables: tuple[str, ...]) -> None:
    pattern = _sql_naming(tables)
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted((SRC / reader).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "use the owner's view (raxx.common.contracts), not its table:\n" + "\n".join(found)


def test_the_fence_sees_a_raw_read() -> None:
    assert _sql_naming(LEDGER_TABLES).search('text("SELECT body FROM release_board WHERE id = 1")')
    assert not _sql_naming(LEDGER_TABLES).search('text("SELECT body FROM release_board_v1")')
