"""docs/configuration.md lists every environment variable the code reads, as the code reads it.

The settings classes' rows are written from the classes (``raxx.common.settings.variables``):
each must stand in the doc as the class renders it, so a new setting, a changed default or
a changed meaning shows up here with the rows to paste. Every setting has a meaning. And
every variable name the source reads some other way (``os.environ``, a click ``envvar``, a
constant naming a variable) must be in the doc too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from raxx.common.alerts.sinks import AlertSettings
from raxx.common.dbbudget import BudgetSettings
from raxx.common.settings import variables
from raxx.console.config import ConsoleSettings
from raxx.gate.config import GateSettings
from raxx.raptor.config import RaptorSettings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "configuration.md"
SETTINGS: list[type[BaseSettings]] = [RaptorSettings, ConsoleSettings, GateSettings, AlertSettings, BudgetSettings]

#: A string in the source that is the whole name of one of our variables.
OUR_NAME = re.compile(r"^(RAXX|RAPTOR|CONSOLE|GATE|INFISICAL)_[A-Z0-9_]*[A-Z0-9]$")
#: Any name read from the process environment by its literal name.
READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|envvar=)["']([A-Z][A-Z0-9_]+)["']""")
#: Names the source holds that are not variables of ours, and why.
NOT_OURS = {
    "RAXX_DB": "the prefix of RAXX_DB_PLAN and RAXX_DB_CONNECTION_LIMIT in budget messages",
    "RAXX_LEDGER_DB": "the prefix of RAXX_LEDGER_DB_PLAN and RAXX_LEDGER_DB_CONNECTION_LIMIT",
    "USER": "the shell's, read for the gate's default actor",
}


def documented(name: str, text: str) -> bool:
    return re.search(rf"`{re.escape(name)}`", text) is not None


@pytest.mark.parametrize("cls", SETTINGS, ids=lambda cls: cls.__name__)
def test_every_setting_stands_in_the_doc_as_its_class_says(cls: type[BaseSettings]) -> None:
    rows = variables(cls)
    assert rows, cls
    silent = [row.name for row in rows if not row.meaning]
    assert not silent, f"{cls.__name__}: give these a Field(description=...): {silent}"
    text = DOC.read_text(encoding="utf-8")
    missing = [row.row() for row in rows if row.row() not in text]
    assert not missing, (
        f"docs/configuration.md: {cls.__name__}'s rows differ; they read, from the code:\n"
        + "\n".join(row.row() for row in rows)
        + "\n\nnot found as written:\n"
        + "\n".join(missing)
    )


def names_in_source() -> dict[str, str]:
    """Each variable name the source reads or names, and one file that does."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "raxx").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and OUR_NAME.match(node.value):
                found.setdefault(node.value, where)
        for name in READ.findall(text):
            found.setdefault(name, where)
    return {name: where for name, where in found.items() if name not in NOT_OURS and not name.startswith("GITHUB_")}


def test_every_variable_the_source_reads_is_in_the_doc() -> None:
    names = names_in_source()
    assert {"RAXX_APP", "PORT", "INFISICAL_API_URL", "RAXX_WEB_HOST"} <= names.keys(), "the scan is wrong"
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(f"{name} ({where})" for name, where in names.items() if not documented(name, text))
    assert not missing, "docs/configuration.md does not name: " + ", ".join(missing)


def test_a_row_says_what_its_field_says() -> None:
    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="SAMPLE_")

        limit: float = Field(default=2.5, description="at most | this")
        name: str = Field(description="who")

    assert [v.row() for v in variables(Settings)] == [
        "| `SAMPLE_LIMIT` | `2.5` | at most \\| this |",
        "| `SAMPLE_NAME` | required | who |",
    ]
