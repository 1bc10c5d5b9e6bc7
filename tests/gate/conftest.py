from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.gate import LocalTopology, local_topology


@pytest.fixture
def fake_topology(tmp_path: Path) -> Iterator[LocalTopology]:
    """raptor-staging, raptor-prod, console-prod as real HTTP servers, plus a fake supervisor."""
    with local_topology(tmp_path / "data") as running:
        yield running
