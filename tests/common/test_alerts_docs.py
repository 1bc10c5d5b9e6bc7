"""docs/operations.md lists every alert as the code defines it, and every RAXX_ALERT_ setting."""

from __future__ import annotations

from pathlib import Path

from raxx.common.alerts import AlertSettings
from raxx.common.alerts.kinds import table_rows

DOC = Path(__file__).parents[2] / "docs" / "operations.md"
APP_JSON = Path(__file__).parents[2] / "app.json"


def test_the_alerts_table_is_the_code_rendered() -> None:
    text = DOC.read_text()
    missing = [row for row in table_rows() if row not in text.splitlines()]
    assert missing == [], "docs/operations.md's alerts table differs from raxx.common.alerts.kinds.KINDS"


def test_every_alert_setting_is_documented_and_declared_for_heroku() -> None:
    text, app = DOC.read_text(), APP_JSON.read_text()
    names = [f"RAXX_ALERT_{field.upper()}" for field in AlertSettings.model_fields]
    assert [n for n in names if f"`{n}`" not in text] == []
    assert [n for n in names if f'"{n}"' not in app] == []
